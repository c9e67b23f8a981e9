package bgpreceiver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// bmpMaxMessage bounds a BMP message: a route monitoring message is a 42-byte peer header
// and a BGP message of at most 65535 bytes (RFC 8654); 1 MiB leaves room for large
// initiation or mirroring messages and stops a corrupt length from allocating gigabytes.
const bmpMaxMessage = 1 << 20

// errBMPFraming means the stream cannot be followed any more (bad version or length): the
// session is closed.
var errBMPFraming = errors.New("bmp: bad common header")

// readBMP reads one BMP message (common header included) into buf, which it may grow.
func readBMP(r io.Reader, buf []byte) ([]byte, error) { return readBMPChecked(r, buf, nil) }

// readBMPChecked is readBMP with check called on each message length before the message is
// buffered (the listener's maximum message size).
func readBMPChecked(r io.Reader, buf []byte, check func(int) error) ([]byte, error) {
	if cap(buf) < bmp.BMP_HEADER_SIZE {
		buf = make([]byte, 0, 4096)
	}
	buf = buf[:bmp.BMP_HEADER_SIZE]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, err
	}
	length := binary.BigEndian.Uint32(buf[1:5])
	if buf[0] != bmp.BMP_VERSION || length < bmp.BMP_HEADER_SIZE || length > bmpMaxMessage {
		return buf, fmt.Errorf("%w: version %d, length %d", errBMPFraming, buf[0], length)
	}
	if check != nil {
		if err := check(int(length)); err != nil {
			return buf, err
		}
	}
	// The buffer grows with the bytes that arrive, not with the length announced: a sender
	// that announces 1 MiB and stalls holds what it sent, not 1 MiB.
	for have := bmp.BMP_HEADER_SIZE; have < int(length); {
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

// bmpResult is what one BMP message means to the receiver.
type bmpResult struct {
	events []event.Event
	// terminate: the router ends the session (termination message).
	terminate bool
}

var bmpStatNames = map[uint16]string{
	bmp.BMP_STAT_TYPE_REJECTED:                             "rejected_prefixes",
	bmp.BMP_STAT_TYPE_DUPLICATE_PREFIX:                     "duplicate_prefix_advertisements",
	bmp.BMP_STAT_TYPE_DUPLICATE_WITHDRAW:                   "duplicate_withdraws",
	bmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_CLUSTER_LIST_LOOP:  "invalid_cluster_list_loop",
	bmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_AS_PATH_LOOP:       "invalid_as_path_loop",
	bmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_ORIGINATOR_ID:      "invalid_originator_id",
	bmp.BMP_STAT_TYPE_INV_UPDATE_DUE_TO_AS_CONFED_LOOP:     "invalid_as_confed_loop",
	bmp.BMP_STAT_TYPE_ADJ_RIB_IN:                           "adj_rib_in_routes",
	bmp.BMP_STAT_TYPE_LOC_RIB:                              "loc_rib_routes",
	bmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_IN:              "adj_rib_in_routes",
	bmp.BMP_STAT_TYPE_PER_AFI_SAFI_LOC_RIB:                 "loc_rib_routes",
	bmp.BMP_STAT_TYPE_WITHDRAW_UPDATE:                      "updates_treated_as_withdraw",
	bmp.BMP_STAT_TYPE_WITHDRAW_PREFIX:                      "prefixes_treated_as_withdraw",
	bmp.BMP_STAT_TYPE_DUPLICATE_UPDATE:                     "duplicate_updates",
	bmp.BMP_STAT_TYPE_ADJ_RIB_OUT_PRE_POLICY:               "adj_rib_out_pre_policy_routes",
	bmp.BMP_STAT_TYPE_ADJ_RIB_OUT_POST_POLICY:              "adj_rib_out_post_policy_routes",
	bmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_OUT_PRE_POLICY:  "adj_rib_out_pre_policy_routes",
	bmp.BMP_STAT_TYPE_PER_AFI_SAFI_ADJ_RIB_OUT_POST_POLICY: "adj_rib_out_post_policy_routes",
}

var bmpDownReasons = map[uint8]string{
	bmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION:  "local-notification",
	bmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION:   "local-no-notification",
	bmp.BMP_PEER_DOWN_REASON_REMOTE_BGP_NOTIFICATION: "remote-notification",
	bmp.BMP_PEER_DOWN_REASON_REMOTE_NO_NOTIFICATION:  "remote-no-notification",
	bmp.BMP_PEER_DOWN_REASON_PEER_DE_CONFIGURED:      "peer-deconfigured",
}

// decodeBMP parses one framed BMP message from router.
func decodeBMP(router netip.Addr, msg []byte) (res bmpResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = bmpResult{}, fmt.Errorf("bmp: unparsable message: %v", p)
		}
	}()
	m, err := bmp.ParseBMPMessage(msg)
	if err != nil {
		return bmpResult{}, err
	}
	if m.Header.Type == bmp.BMP_MSG_INITIATION {
		return bmpResult{}, nil
	}
	if m.Header.Type == bmp.BMP_MSG_TERMINATION {
		return bmpResult{terminate: true}, nil
	}
	ph := m.PeerHeader
	pa, ok := netip.AddrFromSlice(ph.PeerAddress)
	if !ok {
		return bmpResult{}, errors.New("bmp: bad peer address")
	}
	peer := rib.Peer{Kind: rib.SourceBMP, Router: router, Addr: pa.Unmap(), ASN: ph.PeerAS}
	t := time.Now()
	if ph.Timestamp > 0 && ph.Timestamp < math.MaxInt32 {
		sec, frac := math.Modf(ph.Timestamp)
		t = time.Unix(int64(sec), int64(frac*1e9))
	}
	hd := event.Header{Time: t, Peer: peer}
	switch b := m.Body.(type) {
	case *bmp.BMPRouteMonitoring:
		if b.BGPUpdate == nil {
			return bmpResult{}, errors.New("bmp: route monitoring without a BGP message")
		}
		u, ok := b.BGPUpdate.Body.(*bgp.BGPUpdate)
		if !ok {
			return bmpResult{}, errors.New("bmp: route monitoring with a BGP message other than UPDATE")
		}
		pol := event.PrePolicy
		if ph.IsPostPolicy() {
			pol = event.PostPolicy
		}
		return bmpResult{events: []event.Event{&event.Update{Header: hd, Update: bgpconv.FromUpdate(u), Policy: pol}}}, nil
	case *bmp.BMPPeerUpNotification:
		up := &event.PeerUp{Header: hd, State: "established"}
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
		return bmpResult{events: events}, nil
	case *bmp.BMPPeerDownNotification:
		down := &event.PeerDown{Header: hd, State: "down", BMPReason: int(b.Reason), Reason: bmpDownReasons[b.Reason]}
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
			if b.Reason == bmp.BMP_PEER_DOWN_REASON_LOCAL_BGP_NOTIFICATION {
				dir = "sent"
			}
			events = append(events, event.MessageOf(t, peer, b.BGPNotification, dir))
		} else if b.Reason == bmp.BMP_PEER_DOWN_REASON_LOCAL_NO_NOTIFICATION && len(b.Data) >= 2 {
			down.Reason += fmt.Sprintf(" fsm-event-%d", binary.BigEndian.Uint16(b.Data))
		}
		return bmpResult{events: append(events, down)}, nil
	case *bmp.BMPStatisticsReport:
		st := &event.Stats{Header: hd}
		for _, s := range b.Stats {
			switch v := s.(type) {
			case *bmp.BMPStatsTLV32:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: uint64(v.Value)})
			case *bmp.BMPStatsTLV64:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: v.Value})
			case *bmp.BMPStatsTLVPerAfiSafi64:
				st.Stats = append(st.Stats, event.Stat{Type: statName(v.Type), Value: v.Value, Family: afiSafiName(v.AFI, v.SAFI)})
			}
		}
		return bmpResult{events: []event.Event{st}}, nil
	case *bmp.BMPRouteMirroring:
		var events []event.Event
		for _, tlv := range b.Info {
			if v, ok := tlv.(*bmp.BMPRouteMirrTLVBGPMsg); ok && v.Value != nil {
				events = append(events, event.MessageOf(t, peer, v.Value, "received"))
			}
		}
		return bmpResult{events: events}, nil
	}
	return bmpResult{}, fmt.Errorf("bmp: unexpected message type %d", m.Header.Type)
}

func statName(t uint16) string {
	if n, ok := bmpStatNames[t]; ok {
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
