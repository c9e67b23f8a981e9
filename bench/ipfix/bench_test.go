package ipfix

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/erviz/otelcol-erviz/pkg/ipfix"
	"github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/netsampler/goflow2/v2/producer"
	protoproducer "github.com/netsampler/goflow2/v2/producer/proto"
)

var exporter = netip.MustParseAddr("192.0.2.1")

type protocol struct {
	name     string
	messages func(int) ([]byte, []byte)
}

var protocols = []protocol{{"ipfix", IPFIXMessages}, {"netflow_v9", NetFlowV9Messages}}

func perRecord(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*Records), "ns/record")
}

// BenchmarkErviz: pkg/ipfix, typed records to a callback.
func BenchmarkErviz(b *testing.B) {
	for _, p := range protocols {
		b.Run(p.name, func(b *testing.B) {
			tmpl, data := p.messages(Records)
			d := ipfix.NewDecoder(ipfix.Config{})
			var sum uint64
			fn := func(r *ipfix.Record) { sum += r.Bytes }
			if err := d.Decode(exporter, tmpl, fn); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(exporter, data, fn)
			}
			perRecord(b)
			if sum == 0 {
				b.Fatal("nothing decoded")
			}
		})
	}
}

// goflow2Decode decodes one message the way GoFlow2's NetFlowPipe does:
// a bytes.Buffer over the payload and fresh packet structs.
func goflow2Decode(templates netflow.NetFlowTemplateSystem, msg []byte) (any, error) {
	var v9 netflow.NFv9Packet
	var ipfix netflow.IPFIXPacket
	buf := bytes.NewBuffer(msg)
	if err := netflow.DecodeMessageVersion(buf, templates, &v9, &ipfix); err != nil {
		return nil, err
	}
	if v9.Version == 9 {
		return &v9, nil
	}
	return &ipfix, nil
}

// BenchmarkGoFlow2Decode: GoFlow2 v2.2.6 decoders/netflow alone. Its
// output is a list of raw (type, bytes) fields per record, not typed
// flows.
func BenchmarkGoFlow2Decode(b *testing.B) {
	for _, p := range protocols {
		b.Run(p.name, func(b *testing.B) {
			tmpl, data := p.messages(Records)
			templates := netflow.CreateTemplateSystem()
			if _, err := goflow2Decode(templates, tmpl); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := goflow2Decode(templates, data); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b)
		})
	}
}

// BenchmarkGoFlow2DecodeProduce: GoFlow2 decoding plus its protobuf
// producer, which turns records into typed flow messages (what
// pkg/ipfix's Record is), as GoFlow2's pipe and the contrib
// netflowreceiver run it.
func BenchmarkGoFlow2DecodeProduce(b *testing.B) {
	cfg, err := (&protoproducer.ProducerConfig{}).Compile()
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range protocols {
		b.Run(p.name, func(b *testing.B) {
			prod, err := protoproducer.CreateProtoProducer(cfg, protoproducer.CreateSamplingSystem)
			if err != nil {
				b.Fatal(err)
			}
			tmpl, data := p.messages(Records)
			templates := netflow.CreateTemplateSystem()
			if _, err := goflow2Decode(templates, tmpl); err != nil {
				b.Fatal(err)
			}
			args := &producer.ProduceArgs{
				Src:            netip.AddrPortFrom(exporter, 2055),
				SamplerAddress: exporter,
				TimeReceived:   time.Now(),
			}
			var sum uint64
			b.ReportAllocs()
			for b.Loop() {
				pkt, err := goflow2Decode(templates, data)
				if err != nil {
					b.Fatal(err)
				}
				msgs, err := prod.Produce(pkt, args)
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range msgs {
					sum += m.(*protoproducer.ProtoProducerMessage).Bytes
				}
				prod.Commit(msgs)
			}
			perRecord(b)
			if sum == 0 {
				b.Fatal("nothing produced")
			}
		})
	}
}
