// Command erviz is the companion of the otelcol-erviz collector:
//
//	erviz report [-json] [-top N] FILE...   reads the file exporter's OTLP JSON logs and
//	                                        prints the answers (directions in bit/s, talkers,
//	                                        hairpin, control plane, bytes seen per observation
//	                                        point, links, BGP events, conditions), summing
//	                                        only flow.counted records for totals
//	erviz replay -pcap FILE -to HOST:PORT   sends the UDP datagrams of a capture (IPFIX or
//	                                        NetFlow exports) to a collector, each from its
//	                                        captured source address when that is a loopback one
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/erviz/otelcol-erviz/internal/pcap"
	"github.com/erviz/otelcol-erviz/internal/report"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "report":
		err = runReport(os.Args[2:])
	case "replay":
		err = runReplay(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "erviz:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  erviz report [-json] [-top N] FILE...      report on otelcol-erviz's OTLP JSON log files
  erviz replay -pcap FILE -to HOST:PORT [-pps N]   replay the UDP datagrams of a capture`)
	os.Exit(2)
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	top := fs.Int("top", 10, "top talkers to list")
	_ = fs.Parse(args)
	if fs.NArg() == 0 {
		return errors.New("report: name the file exporter's logs file(s), e.g. data/out/logs.json")
	}
	b := report.NewBuilder(*top)
	for _, p := range fs.Args() {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = b.ReadJSONLines(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	r := b.Report()
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return report.WriteText(os.Stdout, r)
}

func runReplay(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	file := fs.String("pcap", "", "capture to replay")
	to := fs.String("to", "127.0.0.1:4739", "collector address")
	pps := fs.Int("pps", 2000, "datagrams per second")
	_ = fs.Parse(args)
	if *file == "" {
		return errors.New("replay: -pcap is required")
	}
	f, err := os.Open(*file)
	if err != nil {
		return err
	}
	dgs, skipped, err := pcap.ReadUDP(f)
	f.Close()
	if err != nil {
		return err
	}
	dst, err := net.ResolveUDPAddr("udp", *to)
	if err != nil {
		return err
	}
	conns := map[netip.Addr]*net.UDPConn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	gap := time.Second / time.Duration(max(*pps, 1))
	for _, d := range dgs {
		src := d.Src.Addr()
		c := conns[src]
		if c == nil {
			var local *net.UDPAddr
			if src.IsLoopback() { // keep the exporter's identity: the collector keys templates by it
				local = &net.UDPAddr{IP: src.AsSlice()}
			}
			if c, err = net.DialUDP("udp", local, dst); err != nil {
				return fmt.Errorf("replay from %s: %w", src, err)
			}
			conns[src] = c
		}
		if _, err := c.Write(d.Payload); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	fmt.Fprintf(os.Stderr, "erviz: replayed %d datagrams from %d exporters to %s (%d packets skipped)\n", len(dgs), len(conns), *to, skipped)
	return nil
}
