//go:build linux

// Command sender replays IPFIX messages over loopback UDP at a paced rate,
// so that every receiver of the end-to-end benchmark gets the same traffic.
//
// The messages are those of bench/ipfix (one template of 17 fields, data
// messages of 20 records of 68 bytes). The template message is sent first,
// then again every -template-every data messages. Sequence numbers and export
// times are set per message as an exporter would. Datagrams go out with
// sendmmsg(2) in small batches to keep the sender's own CPU low; pacing is by
// the clock (records due so far = elapsed * rate), so short sleeps do not
// lower the average rate.
//
// It sends to loopback only and stops at -messages data messages or
// -max-duration, whichever comes first. The summary is one JSON line on
// stdout.
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/erviz/otelcol-erviz/bench/ipfix"
	"golang.org/x/sys/unix"
)

type summary struct {
	Exporters       int     `json:"exporters"`
	DataMessages    int64   `json:"data_messages"`
	Records         int64   `json:"records"`
	Templates       int64   `json:"template_messages"`
	SendErrors      int64   `json:"send_errors"`
	Seconds         float64 `json:"seconds"`
	RecordsPerSec   float64 `json:"records_per_sec"`
	TargetPerSec    float64 `json:"target_records_per_sec"`
	SenderCPUSecond float64 `json:"sender_cpu_seconds"`
}

// mmsghdr mirrors struct mmsghdr of linux/amd64 and arm64.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

type exporter struct {
	conn *net.UDPConn
	raw  syscall.RawConn
	seq  uint32
}

func main() {
	addr := flag.String("addr", "127.0.0.1:4739", "receiver address (loopback only)")
	rate := flag.Float64("rate", 100000, "target flow records per second (all exporters together)")
	messages := flag.Int64("messages", 50000, "data messages to send in total")
	maxDur := flag.Duration("max-duration", 30*time.Second, "stop after this long even if messages remain")
	tmplEvery := flag.Int64("template-every", 1000, "resend the template every this many data messages per exporter")
	batch := flag.Int("batch", 16, "datagrams per sendmmsg call at most")
	exporters := flag.Int("exporters", 1, "exporters (source ports), round-robin")
	warmup := flag.Duration("warmup", 300*time.Millisecond, "pause between the first template and the first data message")
	flag.Parse()

	ap, err := netip.ParseAddrPort(*addr)
	if err != nil || !ap.Addr().IsLoopback() {
		fail(fmt.Errorf("-addr must be a loopback address:port, got %q", *addr))
	}
	if *rate <= 0 || *messages <= 0 || *batch <= 0 || *exporters <= 0 || *tmplEvery <= 0 {
		fail(errors.New("-rate, -messages, -batch, -exporters and -template-every must be positive"))
	}

	tmpl, data := ipfix.IPFIXMessages(ipfix.Records)
	exps := make([]*exporter, *exporters)
	for i := range exps {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, net.UDPAddrFromAddrPort(ap))
		if err != nil {
			fail(err)
		}
		_ = c.SetWriteBuffer(4 << 20)
		raw, err := c.SyscallConn()
		if err != nil {
			fail(err)
		}
		exps[i] = &exporter{conn: c, raw: raw}
	}

	var s summary
	s.Exporters = *exporters
	s.TargetPerSec = *rate
	cpu0 := cpuSeconds()

	// Templates first, then a pause so every receiver knows them before data.
	for _, e := range exps {
		m := stamp(append([]byte(nil), tmpl...), e.seq)
		if _, err := e.conn.Write(m); err != nil {
			s.SendErrors++
		} else {
			s.Templates++
		}
	}
	time.Sleep(*warmup)

	// One buffer per batch slot and exporter: sendmmsg reads them all at once.
	bufs := make([][][]byte, len(exps))
	for i := range bufs {
		bufs[i] = make([][]byte, *batch)
		for j := range bufs[i] {
			bufs[i][j] = append([]byte(nil), data...)
		}
	}
	iovs := make([]syscall.Iovec, *batch)
	hdrs := make([]mmsghdr, *batch)

	msgRate := *rate / ipfix.Records
	sentPer := make([]int64, len(exps))
	start := time.Now()
	deadline := start.Add(*maxDur)
	var sent int64
	next := 0 // exporter to use next
	for sent < *messages {
		now := time.Now()
		if now.After(deadline) {
			break
		}
		due := int64(now.Sub(start).Seconds()*msgRate) + 1
		if due > *messages {
			due = *messages
		}
		if due <= sent {
			wait := time.Duration(float64(sent+1)/msgRate*float64(time.Second)) - now.Sub(start)
			if wait > 0 {
				time.Sleep(wait)
			}
			continue
		}
		n := min(int(due-sent), *batch)
		e := exps[next]
		eb := bufs[next]
		// Periodic template from this exporter, before its data.
		if sentPer[next] > 0 && sentPer[next]%*tmplEvery == 0 {
			if _, err := e.conn.Write(stamp(append([]byte(nil), tmpl...), e.seq)); err != nil {
				s.SendErrors++
			} else {
				s.Templates++
			}
		}
		// Do not cross the next template point within one batch.
		if left := *tmplEvery - sentPer[next]%*tmplEvery; int64(n) > left {
			n = int(left)
		}
		for j := range n {
			stamp(eb[j], e.seq)
			e.seq += ipfix.Records
			iovs[j] = syscall.Iovec{Base: &eb[j][0], Len: uint64(len(eb[j]))}
			hdrs[j] = mmsghdr{hdr: syscall.Msghdr{Iov: &iovs[j], Iovlen: 1}}
		}
		ok := sendmmsg(e.raw, hdrs[:n])
		if ok < n {
			// Datagrams not sent are not counted; their sequence numbers are
			// taken back so receivers see no gap of our own making.
			e.seq -= uint32(n-ok) * ipfix.Records
			s.SendErrors += int64(n - ok)
		}
		sent += int64(n) // pacing counts attempts, so errors cannot make us spin
		s.DataMessages += int64(ok)
		sentPer[next] += int64(ok)
		next = (next + 1) % len(exps)
	}
	el := time.Since(start).Seconds()
	s.Records = s.DataMessages * ipfix.Records
	s.Seconds = el
	s.RecordsPerSec = float64(s.Records) / el
	s.SenderCPUSecond = cpuSeconds() - cpu0
	for _, e := range exps {
		e.conn.Close()
	}
	_ = json.NewEncoder(os.Stdout).Encode(s)
}

// stamp sets the export time and sequence number of an IPFIX message.
func stamp(m []byte, seq uint32) []byte {
	binary.BigEndian.PutUint32(m[4:], uint32(time.Now().Unix()))
	binary.BigEndian.PutUint32(m[8:], seq)
	return m
}

// sendmmsg sends the datagrams on the connected socket and returns how many
// went out; a full socket buffer is retried, other errors end the batch.
func sendmmsg(raw syscall.RawConn, h []mmsghdr) int {
	done := 0
	for done < len(h) {
		var n uintptr
		var errno syscall.Errno
		err := raw.Write(func(fd uintptr) bool {
			n, _, errno = syscall.Syscall6(sysSendmmsg, fd, uintptr(unsafe.Pointer(&h[done])), uintptr(len(h)-done), 0, 0, 0)
			return errno != syscall.EAGAIN
		})
		if err != nil || errno != 0 {
			return done
		}
		done += int(n)
	}
	return done
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sender:", err)
	os.Exit(2)
}

const sysSendmmsg = unix.SYS_SENDMMSG
