package ipfix

import (
	"net/netip"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/pkg/ipfix"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
)

// TestSameResults checks that both decoders see the same records in the
// benchmark messages, so the benchmarks compare equal work. (GoFlow2
// reads flowStartMilliseconds only from IPFIX, not from NetFlow v9.)
func TestSameResults(t *testing.T) {
	cfg, err := (&protoproducer.ProducerConfig{}).Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			tmpl, data := p.messages(Records)
			var ours []ipfix.Record
			d := ipfix.NewDecoder(ipfix.Config{})
			for _, m := range [][]byte{tmpl, data} {
				if err := d.Decode(exporter, m, func(r *ipfix.Record) { ours = append(ours, *r) }); err != nil {
					t.Fatal(err)
				}
			}
			prod, _ := protoproducer.CreateProtoProducer(cfg, protoproducer.CreateSamplingSystem)
			templates := netflow.CreateTemplateSystem()
			var theirs []*protoproducer.ProtoProducerMessage
			for _, m := range [][]byte{tmpl, data} {
				pkt, err := goflow2Decode(templates, m)
				if err != nil {
					t.Fatal(err)
				}
				msgs, err := prod.Produce(pkt, &producer.ProduceArgs{SamplerAddress: exporter, TimeReceived: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range msgs {
					theirs = append(theirs, m.(*protoproducer.ProtoProducerMessage))
				}
			}
			if len(ours) != Records || len(theirs) != Records {
				t.Fatalf("records: ours %d, GoFlow2 %d, want %d", len(ours), len(theirs), Records)
			}
			for i := range ours {
				o, g := &ours[i], theirs[i]
				src, _ := netip.AddrFromSlice(g.SrcAddr)
				if o.Bytes != g.Bytes || o.Packets != g.Packets || o.SrcAddr != src ||
					uint32(o.SrcPort) != g.SrcPort || uint32(o.DstPort) != g.DstPort ||
					o.SrcAS != g.SrcAs || o.DstAS != g.DstAs || o.InIf != g.InIf ||
					(p.name == "ipfix" && uint64(o.FlowStart.UnixNano()) != g.TimeFlowStartNs) {
					t.Errorf("record %d differs:\n ours %+v\n GoFlow2 %+v", i, o, g)
				}
			}
		})
	}
}
