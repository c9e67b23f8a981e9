// Package ipfix benchmarks github.com/erviz/otelcol-erviz/pkg/ipfix side
// by side with GoFlow2's NetFlow/IPFIX decoder on the same messages.
package ipfix

import (
	"encoding/binary"
	"time"
)

// Records per message and the typical template: 5-tuple, TCP flags,
// counters, flowStart/EndMilliseconds, AS numbers, next hop, interfaces
// and prefix lengths, 68 bytes per record (IPFIX element IDs, which
// NetFlow v9 shares for these fields).
const Records = 20

var typical = [][2]uint16{
	{8, 4}, {12, 4}, {7, 2}, {11, 2}, {4, 1}, {6, 1},
	{1, 8}, {2, 8}, {152, 8}, {153, 8}, {16, 4}, {17, 4},
	{15, 4}, {10, 4}, {14, 4}, {9, 1}, {13, 1},
}

var baseMs = uint64(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())

const exportSecs = 1748779200

func be16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func be32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func be64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// record appends record i of the typical template.
func record(b []byte, i int) []byte {
	b = append(b, 10, 0, byte(i>>8), byte(i), 172, 16, 0, 1)
	b = be16(b, uint16(40000+i))
	b = be16(b, 443)
	b = append(b, 6, 0x1b)
	b = be64(b, uint64(1000+i))
	b = be64(b, uint64(10+i))
	b = be64(b, baseMs+uint64(i))
	b = be64(b, baseMs+5000+uint64(i))
	b = be32(b, 64512)
	b = be32(b, 65515)
	b = append(b, 192, 168, 0, 254)
	b = be32(b, 3)
	b = be32(b, 7)
	return append(b, 24, 16)
}

func templateSet(b []byte, setID uint16) []byte {
	b = be16(b, setID)
	b = be16(b, uint16(4+4+4*len(typical)))
	b = be16(b, 256)
	b = be16(b, uint16(len(typical)))
	for _, f := range typical {
		b = be16(b, f[0])
		b = be16(b, f[1])
	}
	return b
}

func dataSet(b []byte, n int) []byte {
	start := len(b)
	b = be16(b, 256)
	b = be16(b, 0)
	for i := range n {
		b = record(b, i)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

func ipfixHeader(seq uint32) []byte {
	b := be16(nil, 10)
	b = be16(b, 0)
	b = be32(b, exportSecs)
	b = be32(b, seq)
	return be32(b, 1)
}

func ipfixDone(b []byte) []byte {
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// IPFIXMessages returns a template message and a data message of n
// records.
func IPFIXMessages(n int) (tmpl, data []byte) {
	return ipfixDone(templateSet(ipfixHeader(0), 2)), ipfixDone(dataSet(ipfixHeader(0), n))
}

func v9Header(seq uint32, count uint16) []byte {
	b := be16(nil, 9)
	b = be16(b, count)
	b = be32(b, 1000)
	b = be32(b, exportSecs)
	b = be32(b, seq)
	return be32(b, 1)
}

// NetFlowV9Messages returns a template packet and a data packet of n
// records.
func NetFlowV9Messages(n int) (tmpl, data []byte) {
	return templateSet(v9Header(0, 1), 0), dataSet(v9Header(1, uint16(n)), n)
}
