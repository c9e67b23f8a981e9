package mrt

// Decoding: records framed, checked and turned into events.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobgpmrt "github.com/osrg/gobgp/v3/pkg/packet/mrt"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// MRT record types and the extended-timestamp variant the GoBGP parser does not know.
const (
	mrtTableDumpV2 = uint16(gobgpmrt.TABLE_DUMPv2)
	mrtBGP4MP      = uint16(gobgpmrt.BGP4MP)
	mrtBGP4MPET    = uint16(gobgpmrt.BGP4MP_ET)
	// MaxRecord bounds one record's body: a BGP4MP record holds one BGP message (at most
	// 65535 bytes, RFC 8654) and a TABLE_DUMPv2 RIB record one prefix with an entry per
	// peer; 1 MiB stops a corrupt length from allocating gigabytes.
	MaxRecord = 1 << 20
	// readChunk is how much of a file is read at a time.
	readChunk = 256 << 10
	// mrtResyncWindow: a header found while resynchronising must carry a timestamp within
	// this many seconds of the last good record.
	mrtResyncWindow = 86400
)

// errFraming means a record header cannot be right (unknown type or length past the
// limit): the reader looks for the next plausible header.
var errFraming = errors.New("mrt: bad record header")

// headerOK reports whether a 12-byte header looks like one this reader can follow.
func headerOK(h []byte) bool {
	typ := binary.BigEndian.Uint16(h[4:6])
	length := binary.BigEndian.Uint32(h[8:12])
	switch typ {
	case uint16(gobgpmrt.TABLE_DUMP), mrtTableDumpV2, mrtBGP4MP, mrtBGP4MPET, uint16(gobgpmrt.OSPFv2), uint16(gobgpmrt.OSPFv3),
		uint16(gobgpmrt.OSPFv3_ET), uint16(gobgpmrt.ISIS), uint16(gobgpmrt.ISIS_ET):
	default:
		return false
	}
	return length <= MaxRecord
}

// split returns the length of the first whole record in buf (header included), 0 when
// buf holds only part of one, or errFraming when the header cannot be followed.
func split(buf []byte) (int, error) {
	if len(buf) < gobgpmrt.MRT_COMMON_HEADER_LEN {
		return 0, nil
	}
	if !headerOK(buf) {
		return 0, fmt.Errorf("%w: type %d, length %d", errFraming, binary.BigEndian.Uint16(buf[4:6]), binary.BigEndian.Uint32(buf[8:12]))
	}
	n := gobgpmrt.MRT_COMMON_HEADER_LEN + int(binary.BigEndian.Uint32(buf[8:12]))
	if len(buf) < n {
		return 0, nil
	}
	return n, nil
}

// resyncAt finds the next offset in buf (after its first byte) where a plausible header
// starts: a known type, a length within bounds and, when lastTS is known, a timestamp close
// to it. It returns -1 when none is in buf yet.
func resyncAt(buf []byte, lastTS uint32) int {
	for i := 1; i+gobgpmrt.MRT_COMMON_HEADER_LEN <= len(buf); i++ {
		h := buf[i:]
		if !headerOK(h) {
			continue
		}
		if lastTS != 0 {
			ts := binary.BigEndian.Uint32(h[:4])
			d := int64(ts) - int64(lastTS)
			if d < -mrtResyncWindow || d > mrtResyncWindow {
				continue
			}
		}
		return i
	}
	return -1
}

// State is what a file's earlier records tell about the later ones: the peers of the
// TABLE_DUMPv2 peer index table, the sessions seen up, and the last NOTIFICATION per peer
// (the reason of the state change that follows it).
type State struct {
	collector netip.Addr
	index     []rib.Peer
	up        map[rib.Peer]bool
	notif     map[rib.Peer]*event.Message
	lastTS    uint32
}

func NewState() *State {
	return &State{up: map[rib.Peer]bool{}, notif: map[rib.Peer]*event.Message{}}
}

var stateNames = map[gobgpmrt.BGPState]string{
	gobgpmrt.IDLE: event.StateIdle, gobgpmrt.CONNECT: event.StateConnect, gobgpmrt.ACTIVE: event.StateActive,
	gobgpmrt.OPENSENT: event.StateOpenSent, gobgpmrt.OPENCONFIRM: event.StateOpenConfirm, gobgpmrt.ESTABLISHED: event.StateEstablished,
}

func stateName(s gobgpmrt.BGPState) string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state-%d", s)
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// decode turns one whole MRT record into events. Records of types this reader
// has no use for (OSPF, IS-IS, the legacy TABLE_DUMP) are skipped without an error.
func decode(rec []byte, st *State) (events []event.Event, err error) {
	defer func() {
		if p := recover(); p != nil {
			events, err = nil, fmt.Errorf("mrt: unparsable record: %v", p)
		}
	}()
	var h gobgpmrt.MRTHeader
	if err := h.DecodeFromBytes(rec); err != nil {
		return nil, err
	}
	body := rec[gobgpmrt.MRT_COMMON_HEADER_LEN:]
	t := time.Unix(int64(h.Timestamp), 0)
	switch uint16(h.Type) {
	case mrtBGP4MPET:
		// RFC 6396 section 3: the microseconds come first and are counted in the length.
		if len(body) < 4 {
			return nil, errors.New("mrt: BGP4MP_ET record shorter than its timestamp")
		}
		us := binary.BigEndian.Uint32(body[:4])
		if us < 1e6 {
			t = t.Add(time.Duration(us) * time.Microsecond)
		}
		body = body[4:]
		h.Type, h.Len = gobgpmrt.BGP4MP, uint32(len(body))
	case mrtBGP4MP, mrtTableDumpV2:
	default:
		return nil, nil
	}
	st.lastTS = h.Timestamp
	m, err := gobgpmrt.ParseMRTBody(&h, body)
	if err != nil {
		return nil, fmt.Errorf("mrt: %w", err)
	}
	switch b := m.Body.(type) {
	case *gobgpmrt.BGP4MPStateChange:
		return st.stateChange(t, b), nil
	case *gobgpmrt.BGP4MPMessage:
		return st.message(t, gobgpmrt.MRTSubTypeBGP4MP(h.SubType), b)
	case *gobgpmrt.PeerIndexTable:
		st.collector = ipAddr(b.CollectorBgpId)
		st.index = st.index[:0]
		for _, p := range b.Peers {
			st.index = append(st.index, rib.Peer{Kind: rib.SourceMRT, Router: st.collector, Addr: ipAddr(p.IpAddress), ASN: p.AS})
		}
		return nil, nil
	case *gobgpmrt.Rib:
		return st.ribEntries(t, b)
	}
	return nil, nil
}

func (st *State) peer(hd *gobgpmrt.BGP4MPHeader) rib.Peer {
	return rib.Peer{Kind: rib.SourceMRT, Router: ipAddr(hd.LocalIpAddress), Addr: ipAddr(hd.PeerIpAddress), ASN: hd.PeerAS}
}

func (st *State) stateChange(t time.Time, b *gobgpmrt.BGP4MPStateChange) []event.Event {
	peer := st.peer(b.BGP4MPHeader)
	switch {
	case b.NewState == gobgpmrt.ESTABLISHED && !st.up[peer]:
		st.up[peer] = true
		delete(st.notif, peer)
		return []event.Event{&event.PeerUp{Header: event.Header{Time: t, Peer: peer}, State: event.StateEstablished}}
	case b.OldState == gobgpmrt.ESTABLISHED && b.NewState != gobgpmrt.ESTABLISHED:
		delete(st.up, peer)
		down := &event.PeerDown{Header: event.Header{Time: t, Peer: peer}, State: stateName(b.NewState), Reason: "fsm-" + stateName(b.NewState)}
		if n, ok := st.notif[peer]; ok {
			down.Reason = fmt.Sprintf("notification-%s %s", n.Direction, bgp.NewNotificationErrorCode(n.NotificationCode, n.NotificationSubcode).String())
			down.Notification = n.Notification
			delete(st.notif, peer)
		}
		return []event.Event{down}
	}
	return nil
}

func (st *State) message(t time.Time, sub gobgpmrt.MRTSubTypeBGP4MP, b *gobgpmrt.BGP4MPMessage) ([]event.Event, error) {
	if b.BGPMessage == nil {
		return nil, errors.New("mrt: BGP4MP message without a BGP message")
	}
	peer := st.peer(b.BGP4MPHeader)
	dir := "received"
	switch sub {
	case gobgpmrt.MESSAGE_LOCAL, gobgpmrt.MESSAGE_AS4_LOCAL, gobgpmrt.MESSAGE_LOCAL_ADDPATH, gobgpmrt.MESSAGE_AS4_LOCAL_ADDPATH:
		dir = "sent"
	}
	if u, ok := b.BGPMessage.Body.(*bgp.BGPUpdate); ok && dir == "received" {
		// The peer's routes as it sent them (a message log is the Adj-RIB-In, pre-policy).
		return []event.Event{&event.Update{Header: event.Header{Time: t, Peer: peer}, Update: bgpconv.FromUpdate(u)}}, nil
	}
	m := event.MessageOf(t, peer, b.BGPMessage, dir)
	if m.HasNotification {
		st.notif[peer] = m
	}
	return []event.Event{m}, nil
}

// ribEntries turns a TABLE_DUMPv2 RIB record into one announcement per entry.
func (st *State) ribEntries(t time.Time, b *gobgpmrt.Rib) ([]event.Event, error) {
	pfx, _, ok := bgpconv.Prefix(b.Prefix)
	if !ok {
		return nil, nil // not IPv4/IPv6 unicast
	}
	var events []event.Event
	for _, e := range b.Entries {
		if int(e.PeerIndex) >= len(st.index) {
			return events, fmt.Errorf("mrt: RIB entry for peer index %d, the index table has %d peers", e.PeerIndex, len(st.index))
		}
		p := rib.Path{Prefix: pfx, ID: e.PathIdentifier}
		bgpconv.Attrs(e.PathAttributes, &p)
		events = append(events, &event.Update{Header: event.Header{Time: t, Peer: st.index[e.PeerIndex]}, Dump: true, Update: bgpconv.Update{Announced: []rib.Path{p}}})
	}
	return events, nil
}

// Scan decodes every whole record of buf, passing the events to emit (with the offset in
// buf where their record ends) and each malformed record (or unfollowable header) to bad, and
// returns how many bytes it consumed. After a bad header, *resync is set and bytes are skipped
// up to the next plausible header.
func Scan(buf []byte, st *State, resync *bool, emit func(e event.Event, end int), bad func(off int, err error)) int {
	off := 0
	for off < len(buf) {
		if *resync {
			i := resyncAt(buf[off:], st.lastTS)
			if i < 0 {
				// Keep the tail that may hold the start of the next header.
				if keep := len(buf) - off - gobgpmrt.MRT_COMMON_HEADER_LEN + 1; keep > 0 {
					off += keep
				}
				break
			}
			off += i
			*resync = false
		}
		n, err := split(buf[off:])
		if err != nil {
			bad(off, err)
			*resync = true
			continue
		}
		if n == 0 {
			break
		}
		events, err := decode(buf[off:off+n], st)
		if err != nil {
			bad(off, err)
		}
		off += n
		for _, e := range events {
			emit(e, off)
		}
	}
	return off
}
