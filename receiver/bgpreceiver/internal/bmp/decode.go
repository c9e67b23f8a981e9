// Package bmp is the bgp receiver's BMP station (RFC 7854): it accepts the routers'
// sessions, decodes their messages and emits them as events (internal/event).
package bmp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	gobgpbmp "github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// MaxMessage bounds a BMP message: a route monitoring message is a 42-byte peer header
// and a BGP message of at most 65535 bytes (RFC 8654); 1 MiB leaves room for large
// initiation or mirroring messages and stops a corrupt length from allocating gigabytes.
const MaxMessage = 1 << 20

// ErrFraming means the stream cannot be followed any more (bad version or length): the
// session is closed.
var ErrFraming = errors.New("bmp: bad common header")

// Read reads one BMP message (common header included) into buf, which it may grow.
func Read(r io.Reader, buf []byte) ([]byte, error) { return ReadChecked(r, buf, nil) }

// ReadChecked is Read with check called on each message length before the message is
// buffered (the listener's maximum message size).
func ReadChecked(r io.Reader, buf []byte, check func(int) error) ([]byte, error) {
	if cap(buf) < gobgpbmp.BMP_HEADER_SIZE {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:gobgpbmp.BMP_HEADER_SIZE]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	length := binary.BigEndian.Uint32(buf[1:5])
	if buf[0] != gobgpbmp.BMP_VERSION || length < gobgpbmp.BMP_HEADER_SIZE || length > MaxMessage {
		return buf, fmt.Errorf("%w: version %d, length %d", ErrFraming, buf[0], length)
	}
	if check != nil {
		if err := check(int(length)); err != nil {
			return buf, err
		}
	}
	// The buffer grows with the bytes that arrive, not with the length announced: a sender
	// that announces 1 MiB and stalls holds what it sent, not 1 MiB.
	for have := gobgpbmp.BMP_HEADER_SIZE; have < int(length); {
		if cap(buf) == have {
			nb := make([]byte, have, min(int(length), max(2*have, 64<<10)))
			copy(nb, buf)
			buf = nb
		}
		next := min(int(length), cap(buf))
		if _, err := io.ReadFull(r, buf[have:next]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return buf[:have], err
		}
		buf, have = buf[:next], next
	}
	return buf[:length], nil
}

// Result is what one BMP message means to the receiver.
type Result struct {
	Events []event.Event
	// Terminate: the router ends the session (termination message).
	Terminate bool
}

var statNames = map[uint16]string{
	gobgpbmp.BMP_STAT_TYPE_REJECTED:                             "rejected_prefixes",
	gobgpbmp.BMP_STAT_TYPE_DUPLICATE_PREFIX:                     "duplicate_prefix_advertisements",
	gobgpbmp.BMP_STAT_TYPE_DUPLICATE_WITHDRAW:                   "duplicate_withdraws",
	gobgpbmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_CLUSTER_LIST_LOOP:  "invalid_cluster_list_loop",
	gobgpbmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_AS_PATH_LOOP:       "invalid_as_path_loop",
	gobgpbmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_ORIGINATOR_ID:      "invalid_originator_id",
	gobgpbmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_AS_CONFED_LOOP:     "invalid_as_confed_loop",
	gobgpbmp.BMP_STAT_TYPE_ADJ_RIB_IN:                           "adj_rib_in_routes",
	gobgpbmp.BMP_STAT_TYPE_LOC_RIB:                              "loc_rib_routes",
	gobgpbmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_IN:              "adj_rib_in_routes",
	gobgpbmp.BMP_STAT_TYPE_PER_AFI_SAFI_LOC_RIB:                 "loc_rib_routes",
	gobgpbmp.BMP_STAT_TYPE_WITHDRAW_UPDATE:                      "updates_treated_as_withdraw",
	gobgpbmp.BMP_STAT_TYPE_WITHDRAW_PREFIX:                      "prefixes_treated_as_withdraw",
	gobgpbmp.BMP_STAT_TYPE_DUPLICATE_UPDATE:                     "duplicate_updates",
	gobgpbmp.BMP_STAT_TYPE_ADJ_RIB_OUT_PRE_POLICY:               "adj_rib_out_pre_policy_routes",
	gobgpbmp.BMP_STAT_TYPE_ADJ_RIB_OUT_POST_POLICY:              "adj_rib_out_post_policy_routes",
	gobgpbmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_OUT_PRE_POLICY:  "adj_rib_out_pre_policy_routes",
	gobgpbmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_OUT_POST_POLICY: "adj_rib_out_post_policy_routes",
}

var downReasons = map[uint8]string{
	gobgpbmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION:  "local-notification",
	gobgpbmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION:   "local-no-notification",
	gobgpbmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION: "remote-notification",
	gobgpbmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION:  "remote-no-notification",
	gobgpbmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED:      "peer-deconfigured",
}

// Decode parses one framed BMP message from router.
func Decode(router netip.Addr, msg []byte) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = Result{}, fmt.Errorf("bmp: unparsable message: %v", p)
		}
	}()
	m, err := gobgpbmp.ParseBMPMessage(msg)
	if err != nil {
		return Result{}, err
	}
	if m.Header.Type == gobgpbmp.BMP_MSG_INITIATION {
		return Result{}, nil
	}
	if m.Header.Type == gobgpbmp.BMP_MSG_TERMINATION {
		return Result{Terminate: true}, nil
	}
	ph := m.PeerHeader
	pa, ok := netip.AddrFromSlice(ph.PeerAddress)
	if !ok {
		return Result{}, errors.New("bmp: bad peer address")
	}
	peer := rib.Peer{Kind: rib.SourceBMP, Router: router, Addr: pa.Unmap(), ASN: ph.PeerAS}
	t := time.Now()
	if ph.Timestamp > 0 && ph.Timestamp < math.MaxInt32 {
		sec, frac := math.Modf(ph.Timestamp)
		t = time.Unix(int64(sec), int64(frac*1e9))
	}
	hd := event.Header{Time: t, Peer: peer}
	switch b := m.Body.(type) {
	case *gobgpbmp.BMPRouteMonitoring:
		if b.BGPUpdate == nil {
			return Result{}, errors.New("bmp: route monitoring without a BGP message")
		}
		u, ok := b.BGPUpdate.Body.(*bgp.BGPUpdate)
		if !ok {
			return Result{}, errors.New("bmp: route monitoring with a BGP message other than UPDATE")
		}
		pol := event.PrePolicy
		if ph.IsPostPolicy() {
			pol = event.PostPolicy
		}
		return Result{Events: []event.Event{&event.Update{Header: hd, Update: bgpconv.FromUpdate(u), Policy: pol}}}, nil
	case *gobgpbmp.BMPPeerUpNotification:
		up := &event.PeerUp{Header: hd, State: event.StateEstablished}
		if b.SentOpenMsg != nil && b.ReceivedOpenMsg != nil {
			sent, ok1 := b.SentOpenMsg.Body.(*bgp.BGPOpen)
			recv, ok2 := b.ReceivedOpenMsg.Body.(*bgp.BGPOpen)
			if ok1 && ok2 {
				s := bgpconv.SessionOf(sent, recv)
				up.Session = &s
			}
		}
		events := []event.Event{up}
		if b.SentOpenMsg != nil {
			events = append(events, event.MessageOf(t, peer, b.SentOpenMsg, "sent"))
		}
		if b.ReceivedOpenMsg != nil {
			events = append(events, event.MessageOf(t, peer, b.ReceivedOpenMsg, "received"))
		}
		return Result{Events: events}, nil
	case *gobgpbmp.BMPPeerDownNotification:
		down := &event.PeerDown{Header: hd, State: event.StateDown, BMPReason: int(b.Reason), Reason: downReasons[b.Reason]}
		if down.Reason == "" {
			down.Reason = fmt.Sprintf("reason-%d", b.Reason)
		}
		var events []event.Event
		if b.BGPNotification != nil {
			if n, ok := b.BGPNotification.Body.(*bgp.BGPNotification); ok {
				down.Notification = event.NotificationOf(n.ErrorCode, n.ErrorSubcode)
				down.Reason += " " + bgp.NewNotificationErrorCode(n.ErrorCode, n.ErrorSubcode).String()
			}
			dir := "received"
			if b.Reason == gobgpbmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION {
				dir = "sent"
			}
			events = append(events, event.MessageOf(t, peer, b.BGPNotification, dir))
		} else if b.Reason == gobgpbmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION && len(b.Data) >= 2 {
			down.Reason += fmt.Sprintf(" fsm-event-%d", binary.BigEndian.Uint16(b.Data))
		}
		return Result{Events: append(events, down)}, nil
	case *gobgpbmp.BMPStatisticsReport:
		st := &event.Stats{Header: hd}
		for _, s := range b.Stats {
			switch v := s.(type) {
			case *gobgpbmp.BMPStatsTLV32:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: uint64(v.Value)})
			case *gobgpbmp.BMPStatsTLV64:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: v.Value})
			case *gobgpbmp.BMPStatsTLVPerAfiSafi64:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: v.Value, Family: afiSafiName(v.AFI, v.SAFI)})
			}
		}
		return Result{Events: []event.Event{st}}, nil
	case *gobgpbmp.BMPRouteMirroring:
		var events []event.Event
		for _, tlv := range b.Info {
			if v, ok := tlv.(*gobgpbmp.BMPRouteMirrTLVBGPMsg); ok && v.Value != nil {
				events = append(events, event.MessageOf(t, peer, v.Value, "received"))
			}
		}
		return Result{Events: events}, nil
	}
	return Result{}, fmt.Errorf("bmp: unexpected message type %d", m.Header.Type)
}

func statName(t uint16) string {
	if n, ok := statNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type_%d", t)
}

func afiSafiName(afi uint16, safi uint8) string {
	switch {
	case afi == bgp.AFI_IP && safi == bgp.SAFI_UNICAST:
		return "ipv4_unicast"
	case afi == bgp.AFI_IP6 && safi == bgp.SAFI_UNICAST:
		return "ipv6_unicast"
	}
	return fmt.Sprintf("afi_%d_safi_%d", afi, safi)
}
