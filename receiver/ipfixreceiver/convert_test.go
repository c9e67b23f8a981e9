package ipfixreceiver

import (
	"net/netip"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// TestICMPTypeCode: the ICMP type and code come from the ICMP elements when the record has
// them, else from the destination port where NetFlow v5-style exporters put them.
func TestICMPTypeCode(t *testing.T) {
	for _, tc := range []struct {
		name               string
		typ, code          uint8
		dport              uint16
		wantType, wantCode int64
	}{
		{"elements", 8, 0, 0, 8, 0},
		{"destination port (pmacct)", 0, 0, 3<<8 | 4, 3, 4},
		{"elements win over the port", 11, 0, 8 << 8, 11, 0},
		{"echo reply: type 0, code 0", 0, 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatch(newAddrNames(16), 0)
			r := &ipfix.Record{Exporter: netip.MustParseAddr("127.0.0.1"), SrcAddr: netip.MustParseAddr("10.0.0.4"),
				DstAddr: netip.MustParseAddr("10.0.0.5"), Protocol: 1, DstPort: tc.dport, ICMPType: tc.typ, ICMPCode: tc.code,
				Bytes: 84, Packets: 1}
			b.add(r, pcommon.NewTimestampFromTime(time.Now()))
			logs, n := b.take()
			if n != 1 {
				t.Fatalf("%d records", n)
			}
			at := logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes()
			typ, _ := at.Get(schema.FlowICMPType)
			code, _ := at.Get(schema.FlowICMPCode)
			if typ.Int() != tc.wantType || code.Int() != tc.wantCode {
				t.Errorf("icmp type %d code %d, want %d %d", typ.Int(), code.Int(), tc.wantType, tc.wantCode)
			}
		})
	}
}

// TestAttrCount: the capacity reserved for a record's attributes is exactly what add puts.
func TestAttrCount(t *testing.T) {
	_, data := benchMessages(3)
	tmpl, _ := benchMessages(3)
	d := ipfix.NewDecoder(ipfix.Config{})
	exp := netip.MustParseAddr("192.0.2.1")
	_ = d.Decode(exp, tmpl, nil)
	b := newBatch(newAddrNames(16), 0)
	n := 0
	_ = d.Decode(exp, data, func(r *ipfix.Record) {
		b.add(r, 0)
		n++
		lr := b.logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(n - 1)
		if got, want := lr.Attributes().Len(), attrCount(r); got != want {
			t.Errorf("record %d: %d attributes, attrCount %d", n, got, want)
		}
	})
	if n != 3 {
		t.Fatalf("%d records", n)
	}
}
