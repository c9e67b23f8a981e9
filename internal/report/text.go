package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

var directionOrder = []string{"to_azure", "from_azure", "azure_internal", "onprem_internal", "unknown"}

// WriteText prints the report for a person.
func WriteText(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	p("otelcol-erviz report: %d records (%d flow records, %d BGP events", r.Records, r.FlowRecords, r.BGPEvents)
	if r.Unreadable > 0 {
		p(", %d unreadable lines", r.Unreadable)
	}
	p(")\n")

	p("\n== Traffic per direction, bit/s averaged over each 5 minutes (counted records, rescaled)\n")
	p("bin (UTC)\t%s\n", strings.Join(directionOrder, "\t"))
	for _, d := range r.Directions {
		p("%s", d.Start.Format("2006-01-02 15:04"))
		for _, k := range directionOrder {
			p("\t%s", bitRate(d.BitsPerSecond[k]))
		}
		p("\n")
	}
	p("total bytes")
	for _, k := range directionOrder {
		p("\t%s", human(r.DirectionTotals[k]))
	}
	p("\n")
	if r.UncountedRecords > 0 {
		p("(%d flow records left out: the same traffic counted at another observation point, flow.counted=false)\n", r.UncountedRecords)
	}

	p("\n== Top talkers (client -> server)\n")
	p("client\tserver\tport\ttransport\tservice\tbytes\tpackets\n")
	for _, t := range r.TopTalkers {
		p("%s\t%s\t%d\t%s\t%s\t%s\t%d\n", t.Client, t.Server, t.ServerPort, t.Transport, t.Service, human(t.Bytes), t.Packets)
	}
	for _, s := range []struct {
		title string
		list  []FlowSummary
	}{{"Hairpin flows (Azure to Azure through the edge)", r.Hairpin}, {"Control-plane flows (BGP, BFD, ICMP between link addresses)", r.ControlPlane}} {
		p("\n== %s\n", s.title)
		if len(s.list) == 0 {
			p("(none)\n")
			continue
		}
		p("source\tdestination\ttransport\tservice\tbytes\tpackets\n")
		for _, f := range s.list {
			p("%s\t%s\t%s\t%s\t%s\t%d\n", f.Source, f.Destination, f.Transport, f.Service, human(f.Bytes), f.Packets)
		}
	}

	writeObservations(p, r.Observations)

	p("\n== Bytes per link\n")
	for _, k := range sortedKeys(r.Links) {
		p("%s\t%s\n", k, human(r.Links[k]))
	}
	if len(r.Links) == 0 {
		p("(no record carries flow.link: configure sampling.links)\n")
	}

	p("\n== BGP events per 5 minutes\n")
	kinds := map[string]bool{}
	for _, b := range r.BGPOverTime {
		for k := range b.Counts {
			kinds[k] = true
		}
	}
	ks := sortedKeys(kinds)
	if len(ks) == 0 {
		p("(none)\n")
	} else {
		p("bin (UTC)\t%s\n", strings.Join(ks, "\t"))
		for _, b := range r.BGPOverTime {
			p("%s", b.Start.Format("2006-01-02 15:04"))
			for _, k := range ks {
				p("\t%d", b.Counts[k])
			}
			p("\n")
		}
	}

	writeRoutesText(p, r)

	p("\n== Prefixes by origin class (announced at the end)\n")
	for _, k := range sortedKeys(r.Prefixes) {
		p("%s\t%d\n", k, r.Prefixes[k])
	}
	if len(r.Prefixes) == 0 {
		p("(none)\n")
	}

	p("\n== Routing conditions (overlaps, lost redundancy, flaps, origin changes)\n")
	if len(r.Conditions) == 0 {
		p("(none)\n")
	} else {
		p("kind\tprefix\tstart (UTC)\tstate\tdetail\n")
		for _, c := range r.Conditions {
			state := "active"
			if c.Resolved {
				state = "resolved"
				if c.Duration > 0 {
					state = fmt.Sprintf("resolved after %s", time.Duration(c.Duration*float64(time.Second)).Round(time.Millisecond))
				}
			}
			p("%s\t%s\t%s\t%s\t%s\n", c.Kind, c.Prefix, c.Start.Format("2006-01-02 15:04:05"), state, c.Detail)
		}
	}
	return tw.Flush()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// writeObservations prints the per-observation view.
func writeObservations(p func(string, ...any), obs []ObservationTotal) {
	p("\n== Bytes seen at each observation point (every record, counted or not: do not add up)\n")
	if len(obs) == 0 {
		p("(none)\n")
		return
	}
	p("kind\tobservation point\tbytes seen\tof which counted\trecords\n")
	for _, o := range obs {
		p("%s\t%s\t%s\t%s\t%d\n", o.Kind, o.Point, human(o.Bytes), human(o.CountedBytes), o.Records)
	}
}

// bitRate prints a rate in bits per second with a decimal unit.
func bitRate(bps float64) string {
	switch {
	case bps >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", bps/1e9)
	case bps >= 1e6:
		return fmt.Sprintf("%.2f Mbit/s", bps/1e6)
	case bps >= 1e3:
		return fmt.Sprintf("%.2f kbit/s", bps/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", bps)
}

// human prints a byte count with a binary unit.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
