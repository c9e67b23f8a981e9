// Package pcap reads the UDP datagrams of a classic pcap file (Ethernet or raw IPv4/IPv6
// link types), for replaying captured IPFIX / NetFlow exports.
package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Datagram is one UDP datagram of the capture.
type Datagram struct {
	Time    time.Time
	Src     netip.AddrPort
	Dst     netip.AddrPort
	Payload []byte
}

const (
	linkEthernet = 1
	linkRaw      = 101
	maxSnap      = 1 << 18
)

// ErrFormat is returned for a file that is not a classic pcap capture.
var ErrFormat = errors.New("pcap: not a classic pcap file")

// ReadUDP returns every UDP datagram (over IPv4 or IPv6, without IP options or extension
// headers) of a capture; other packets are skipped and counted in skipped.
func ReadUDP(r io.Reader) (out []Datagram, skipped int, err error) {
	var gh [24]byte
	if _, err := io.ReadFull(r, gh[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(gh[:4]) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, 0, ErrFormat
	}
	link := bo.Uint32(gh[20:24])
	if link != linkEthernet && link != linkRaw {
		return nil, 0, fmt.Errorf("pcap: link type %d not supported (Ethernet or raw IP)", link)
	}
	var ph [16]byte
	for {
		if _, err := io.ReadFull(r, ph[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, skipped, nil
			}
			return out, skipped, fmt.Errorf("pcap: truncated record header: %w", err)
		}
		sec, frac, incl := bo.Uint32(ph[0:4]), bo.Uint32(ph[4:8]), bo.Uint32(ph[8:12])
		if incl > maxSnap {
			return out, skipped, fmt.Errorf("pcap: record of %d bytes", incl)
		}
		pkt := make([]byte, incl)
		if _, err := io.ReadFull(r, pkt); err != nil {
			return out, skipped, fmt.Errorf("pcap: truncated record: %w", err)
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		d, ok := parse(pkt, link)
		if !ok {
			skipped++
			continue
		}
		d.Time = time.Unix(int64(sec), ns).UTC()
		out = append(out, d)
	}
}

func parse(pkt []byte, link uint32) (Datagram, bool) {
	if link == linkEthernet {
		if len(pkt) < 14 {
			return Datagram{}, false
		}
		et := binary.BigEndian.Uint16(pkt[12:14])
		pkt = pkt[14:]
		if et == 0x8100 && len(pkt) >= 4 { // one VLAN tag
			et, pkt = binary.BigEndian.Uint16(pkt[2:4]), pkt[4:]
		}
		if et != 0x0800 && et != 0x86dd {
			return Datagram{}, false
		}
	}
	if len(pkt) < 1 {
		return Datagram{}, false
	}
	var src, dst netip.Addr
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 || pkt[0]&0x0f != 5 || pkt[9] != 17 {
			return Datagram{}, false
		}
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if total < 28 || total > len(pkt) {
			return Datagram{}, false
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		l4 = pkt[20:total]
	case 6:
		if len(pkt) < 48 || pkt[6] != 17 {
			return Datagram{}, false
		}
		plen := int(binary.BigEndian.Uint16(pkt[4:6]))
		if plen < 8 || 40+plen > len(pkt) {
			return Datagram{}, false
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		l4 = pkt[40 : 40+plen]
	default:
		return Datagram{}, false
	}
	ulen := int(binary.BigEndian.Uint16(l4[4:6]))
	if ulen < 8 || ulen > len(l4) {
		return Datagram{}, false
	}
	return Datagram{
		Src:     netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4[0:2])),
		Dst:     netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:4])),
		Payload: l4[8:ulen],
	}, true
}

// Writer writes UDP datagrams as a classic pcap file with raw IPv4 link type.
type Writer struct {
	w io.Writer
}

// NewWriter writes the file header.
func NewWriter(w io.Writer) (*Writer, error) {
	var gh [24]byte
	binary.LittleEndian.PutUint32(gh[0:4], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(gh[4:6], 2)
	binary.LittleEndian.PutUint16(gh[6:8], 4)
	binary.LittleEndian.PutUint32(gh[16:20], 65535)
	binary.LittleEndian.PutUint32(gh[20:24], linkRaw)
	_, err := w.Write(gh[:])
	return &Writer{w: w}, err
}

// Write writes one IPv4 UDP datagram (checksums left zero).
func (w *Writer) Write(d Datagram) error {
	if !d.Src.Addr().Is4() || !d.Dst.Addr().Is4() {
		return errors.New("pcap: only IPv4 datagrams are written")
	}
	n := 28 + len(d.Payload)
	if n > 65535 {
		return errors.New("pcap: datagram too large")
	}
	pkt := make([]byte, n)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(pkt[2:4], uint16(n))
	s, t := d.Src.Addr().As4(), d.Dst.Addr().As4()
	copy(pkt[12:16], s[:])
	copy(pkt[16:20], t[:])
	binary.BigEndian.PutUint16(pkt[20:22], d.Src.Port())
	binary.BigEndian.PutUint16(pkt[22:24], d.Dst.Port())
	binary.BigEndian.PutUint16(pkt[24:26], uint16(n-20))
	copy(pkt[28:], d.Payload)
	var ph [16]byte
	binary.LittleEndian.PutUint32(ph[0:4], uint32(d.Time.Unix()))
	binary.LittleEndian.PutUint32(ph[4:8], uint32(d.Time.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(ph[8:12], uint32(n))
	binary.LittleEndian.PutUint32(ph[12:16], uint32(n))
	if _, err := w.w.Write(ph[:]); err != nil {
		return err
	}
	_, err := w.w.Write(pkt)
	return err
}
