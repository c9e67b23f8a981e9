package ipfixreceiver

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/sharedcomponent"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/listener"
	"github.com/erviz/otelcol-erviz/receiver/ipfixreceiver/internal/metadata"
)

// benchMessages are the messages of bench/ipfix: one template of 17 fields and data messages
// of 20 records of 68 bytes.
func benchMessages(records int) (tmpl, data []byte) {
	fields := [][2]uint16{{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1}, {1, 8}, {2, 8}, {152, 8}, {153, 8},
		{16, 4}, {17, 4}, {15, 4}, {10, 4}, {14, 4}, {9, 1}, {13, 1}}
	be16 := binary.BigEndian.AppendUint16
	be32 := binary.BigEndian.AppendUint32
	be64 := binary.BigEndian.AppendUint64
	header := func() []byte { return be32(be32(be32(be16(be16(nil, 10), 0), 1748779200), 0), 1) }
	done := func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], uint16(len(b))); return b }
	tmpl = be16(be16(be16(be16(header(), 2), uint16(8+4*len(fields))), 256), uint16(len(fields)))
	for _, f := range fields {
		tmpl = be16(be16(tmpl, f[0]), f[1])
	}
	data = be16(be16(header(), 256), uint16(4+68*records))
	ms := uint64(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())
	for i := range records {
		data = append(data, 10, 0, byte(i>>8), byte(i), 172, 16, 0, 1)
		data = be16(be16(data, uint16(40000+i)), 443)
		data = append(data, 6, 0x1b)
		data = be64(be64(be64(be64(data, uint64(1000+i)), uint64(10+i)), ms+uint64(i)), ms+5000+uint64(i))
		data = be32(be32(data, 64512), 65515)
		data = append(data, 192, 168, 0, 254)
		data = append(be32(be32(data, 3), 7), 24, 16)
	}
	return done(tmpl), done(data)
}

// BenchmarkHandle: one worker's path from a received datagram to log records handed to the
// pipeline (decode, convert into the batch, flush every batch_size records), per record.
func BenchmarkHandle(b *testing.B) {
	cfg := createDefaultConfig()
	cfg.Endpoint = "127.0.0.1:0"
	cfg.Sockets = 1
	set := receivertest.NewNopSettings(metadata.Type)
	c, err := NewFactory().CreateLogs(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	rx := c.(*sharedcomponent.Component[*ipfixReceiver]).Unwrap()
	if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	const records = 20
	tmpl, data := benchMessages(records)
	exp := netip.MustParseAddrPort("192.0.2.1:4739")
	rx.handle(0, &listener.Packet{Exporter: exp, Data: tmpl, Received: time.Now()})
	b.ReportAllocs()
	cpu := processCPU()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint32(data[8:], uint32(i*records))
		rx.handle(0, &listener.Packet{Exporter: exp, Data: data, Received: time.Now()})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
	b.ReportMetric(float64((processCPU()-cpu).Nanoseconds())/float64(b.N*records), "cpu-ns/record")
}
