// Command mrtgen writes the demo's bundled data: the IPFIX capture (softflowd's datagrams
// as two edge routers) and an MRT message log of an NVA peering with Azure Route Server's two
// instances and a VPN NVA. See demo/gen/gen.sh.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net/netip"
	"os"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"

	"github.com/erviz/otelcol-erviz/internal/pcap"
)

// t0 is 2025-06-02 09:00:00 UTC, when the demo's traffic starts.
const t0 = 1748854800

func main() {
	ipfixOut := flag.String("ipfix-out", "", "IPFIX capture to write")
	primary := flag.String("primary", "", "datagrams of the primary edge (uint16 length + payload)")
	secondary := flag.String("secondary", "", "datagrams of the secondary edge")
	mrtOut := flag.String("mrt-out", "", "MRT message log to write")
	flag.Parse()
	if *ipfixOut != "" {
		if err := writeIPFIX(*ipfixOut, *primary, *secondary); err != nil {
			log.Fatal(err)
		}
	}
	if *mrtOut != "" {
		if err := writeMRT(*mrtOut); err != nil {
			log.Fatal(err)
		}
	}
}

func readDgrams(path string) ([][]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(raw) >= 2 {
		n := int(binary.BigEndian.Uint16(raw))
		if len(raw) < 2+n {
			return nil, fmt.Errorf("%s: truncated", path)
		}
		out = append(out, raw[2:2+n])
		raw = raw[2+n:]
	}
	return out, nil
}

// writeIPFIX interleaves the two exporters' datagrams, templates first as sent.
func writeIPFIX(out, primary, secondary string) error {
	p, err := readDgrams(primary)
	if err != nil {
		return err
	}
	s, err := readDgrams(secondary)
	if err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := pcap.NewWriter(f)
	if err != nil {
		return err
	}
	dst := netip.MustParseAddrPort("127.0.0.1:4739")
	t := time.Unix(t0+900, 0)
	for i := 0; i < len(p) || i < len(s); i++ {
		if i < len(p) {
			if err := w.Write(pcap.Datagram{Time: t, Src: netip.MustParseAddrPort("127.0.0.11:40011"), Dst: dst, Payload: p[i]}); err != nil {
				return err
			}
		}
		if i < len(s) {
			if err := w.Write(pcap.Datagram{Time: t, Src: netip.MustParseAddrPort("127.0.0.12:40012"), Dst: dst, Payload: s[i]}); err != nil {
				return err
			}
		}
		t = t.Add(10 * time.Millisecond)
	}
	return nil
}

type peer struct {
	addr string
	asn  uint32
}

var (
	local = "10.0.1.4" // the NVA writing the log, AS 65010
	ars0  = peer{"10.0.0.4", 65515}
	ars1  = peer{"10.0.0.5", 65515}
	vpn   = peer{"10.0.2.4", 65050}
)

type writer struct {
	w   io.Writer
	err error
}

func (w *writer) record(ts uint32, sub mrt.MRTSubTypeBGP4MP, body mrt.Body) {
	if w.err != nil {
		return
	}
	m, err := mrt.NewMRTMessage(ts, mrt.BGP4MP, sub, body)
	if err != nil {
		w.err = err
		return
	}
	b, err := m.Serialize()
	if err != nil {
		w.err = err
		return
	}
	_, w.err = w.w.Write(b)
}

func (w *writer) state(ts uint32, p peer, from, to mrt.BGPState) {
	w.record(ts, mrt.STATE_CHANGE_AS4, mrt.NewBGP4MPStateChange(p.asn, 65010, 0, p.addr, local, true, from, to))
}

func (w *writer) msg(ts uint32, p peer, m *bgp.BGPMessage) {
	w.record(ts, mrt.MESSAGE_AS4, mrt.NewBGP4MPMessage(p.asn, 65010, 0, p.addr, local, true, m))
}

func update(nextHop string, path []uint32, prefixes ...string) *bgp.BGPMessage {
	var nlri []*bgp.IPAddrPrefix
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		nlri = append(nlri, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
	}
	return bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
		bgp.NewPathAttributeNextHop(nextHop),
	}, nlri)
}

func withdraw(prefixes ...string) *bgp.BGPMessage {
	var w []*bgp.IPAddrPrefix
	for _, s := range prefixes {
		p := netip.MustParsePrefix(s)
		w = append(w, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
	}
	return bgp.NewBGPUpdateMessage(w, nil, nil)
}

// writeMRT: both Route Server instances announce the spokes (10.1.0.0/16, 10.2.0.0/16), the
// on-premises range learned over ExpressRoute (192.168.0.0/16 via 12076) and an overlapping
// VNet of another origin behind the same circuit (10.1.128.0/17); a VPN NVA gives
// 192.168.0.0/16 a backup path, withdraws it at 09:08, restores it at 09:12 and shuts its
// session down at 09:13:30. Keepalives every minute.
func writeMRT(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := &writer{w: f}
	open := func(p peer) *bgp.BGPMessage {
		return bgp.NewBGPOpenMessage(uint16(p.asn), 180, p.addr, nil)
	}
	for _, p := range []peer{ars0, ars1, vpn} {
		w.msg(t0, p, open(p))
		w.state(t0, p, mrt.OPENCONFIRM, mrt.ESTABLISHED)
	}
	for _, p := range []peer{ars0, ars1} {
		w.msg(t0+1, p, update(p.addr, []uint32{65515}, "10.1.0.0/16", "10.2.0.0/16"))
		w.msg(t0+1, p, update(p.addr, []uint32{65515, 12076, 65001}, "192.168.0.0/16"))
		w.msg(t0+1, p, update(p.addr, []uint32{65515, 12076, 65002}, "10.1.128.0/17"))
	}
	w.msg(t0+2, vpn, update(vpn.addr, []uint32{65050, 65001}, "192.168.0.0/16"))
	for m := uint32(1); m <= 14; m++ {
		ts := t0 + 60*m
		switch m {
		case 8:
			w.msg(ts-30, vpn, withdraw("192.168.0.0/16"))
		case 12:
			w.msg(ts-30, vpn, update(vpn.addr, []uint32{65050, 65001}, "192.168.0.0/16"))
		case 14:
			w.msg(ts-30, vpn, bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, nil))
			w.state(ts-30, vpn, mrt.ESTABLISHED, mrt.IDLE)
		}
		for _, p := range []peer{ars0, ars1, vpn} {
			if p == vpn && m >= 14 {
				continue
			}
			w.msg(ts, p, bgp.NewBGPKeepAliveMessage())
		}
	}
	return w.err
}
