package speaker

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// remote is the far end of a session under test: it reads what the speaker sends in the
// background and writes what the test scripts.
type remote struct {
	t    *testing.T
	c    net.Conn
	msgs chan *bgp.BGPMessage
}

func (r *remote) send(m *bgp.BGPMessage) {
	r.t.Helper()
	b, err := m.Serialize()
	require.NoError(r.t, err)
	r.sendRaw(b)
}

func (r *remote) sendRaw(b []byte) {
	_ = r.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = r.c.Write(b)
}

// next returns the next message of the given type the speaker sent, skipping others.
func (r *remote) next(typ uint8) *bgp.BGPMessage {
	r.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m, ok := <-r.msgs:
			if !ok {
				r.t.Fatalf("connection closed before a message of type %d", typ)
			}
			if m.Header.Type == typ {
				return m
			}
		case <-timeout:
			r.t.Fatalf("no message of type %d", typ)
		}
	}
}

type harness struct {
	t      *testing.T
	s      *Speaker
	events chan Event
	done   chan struct{}
	r      *remote
}

// startSession runs one session of a speaker (AS 65000) with a peer (AS 65001 unless set)
// over an in-memory connection.
func startSession(t *testing.T, pc PeerConfig) *harness {
	t.Helper()
	if pc.ASN == 0 {
		pc.ASN = 65001
	}
	if !pc.Address.IsValid() {
		pc.Address = netip.MustParseAddr("192.0.2.2")
	}
	h := &harness{t: t, events: make(chan Event, 1000), done: make(chan struct{})}
	h.s = &Speaker{cfg: Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1")}, logger: zaptest.NewLogger(t),
		emit: func(e Event) { h.events <- e }, peers: map[netip.Addr]*peer{}}
	h.s.ctx, h.s.cancel = context.WithCancel(context.Background())
	p := newPeer(h.s, pc)
	local, far := net.Pipe()
	h.r = &remote{t: t, c: far, msgs: make(chan *bgp.BGPMessage, 1000)}
	go func() {
		defer close(h.r.msgs)
		br := bufio.NewReader(far)
		for {
			hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
			if _, err := io.ReadFull(br, hdr); err != nil {
				return
			}
			n := int(binary.BigEndian.Uint16(hdr[16:18]))
			body := make([]byte, n-bgp.BGP_HEADER_LENGTH)
			if _, err := io.ReadFull(br, body); err != nil {
				return
			}
			m, err := bgp.ParseBGPMessage(append(hdr, body...))
			if err != nil {
				t.Errorf("the speaker sent a message that does not parse: %v", err)
				return
			}
			h.r.msgs <- m
		}
	}()
	go func() {
		defer close(h.done)
		p.session(local, false)
	}()
	t.Cleanup(func() {
		h.s.cancel()
		_ = far.Close()
		<-h.done
	})
	return h
}

// event returns the next event of a kind, skipping others.
func (h *harness) event(kind EventKind) Event {
	h.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-h.events:
			if kindOf(e) == kind {
				return e
			}
		case <-timeout:
			h.t.Fatalf("no event of kind %d", kind)
		}
	}
}

func (h *harness) noEvent(kind EventKind) {
	h.t.Helper()
	for {
		select {
		case e := <-h.events:
			require.NotEqual(h.t, kind, kindOf(e), "unexpected event %+v", e)
		default:
			return
		}
	}
}

func open(as uint16, hold uint16, id string, caps ...bgp.ParameterCapabilityInterface) *bgp.BGPMessage {
	return bgp.NewBGPOpenMessage(as, hold, id, []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
}

func update4(pfx string, path []uint32, extra ...bgp.PathAttributeInterface) *bgp.BGPMessage {
	p := netip.MustParsePrefix(pfx)
	attrs := append([]bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
		bgp.NewPathAttributeNextHop("192.0.2.2"),
	}, extra...)
	return bgp.NewBGPUpdateMessage(nil, attrs, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())})
}

// establish runs the OPEN exchange as a 4-byte-AS peer with hold time hold.
func (h *harness) establish(hold uint16) *event.PeerUp {
	h.t.Helper()
	h.r.next(bgp.BGP_MSG_OPEN)
	h.r.send(open(65001, hold, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(65001)))
	h.r.next(bgp.BGP_MSG_KEEPALIVE)
	h.r.send(bgp.NewBGPKeepAliveMessage())
	return h.event(PeerUp).(*event.PeerUp)
}

// TestOpenAndUpdate: the OPEN the speaker sends (version, ASN, hold time, router ID, the
// families, 4-byte ASN, route refresh), a session up, an UPDATE read into RIB paths, and the
// message counters.
func TestOpenAndUpdate(t *testing.T) {
	h := startSession(t, PeerConfig{HoldTime: 30 * time.Second, Families: []string{FamilyIPv4Unicast, FamilyIPv6Unicast}})
	o := h.r.next(bgp.BGP_MSG_OPEN).Body.(*bgp.BGPOpen)
	assert.EqualValues(t, 4, o.Version)
	assert.EqualValues(t, 65000, o.MyAS)
	assert.EqualValues(t, 30, o.HoldTime)
	assert.Equal(t, "192.0.2.1", o.ID.String())
	var fams []bgp.RouteFamily
	var as4 uint32
	refresh := false
	for _, op := range o.OptParams {
		for _, c := range op.(*bgp.OptionParameterCapability).Capability {
			switch v := c.(type) {
			case *bgp.CapMultiProtocol:
				fams = append(fams, v.CapValue)
			case *bgp.CapFourOctetASNumber:
				as4 = v.CapValue
			case *bgp.CapRouteRefresh:
				refresh = true
			}
		}
	}
	assert.ElementsMatch(t, []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC}, fams)
	assert.EqualValues(t, 65000, as4)
	assert.True(t, refresh)
	assert.Equal(t, "open", h.event(Message).(*event.Message).MessageType)

	h.r.send(open(65001, 90, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(65001)))
	h.r.next(bgp.BGP_MSG_KEEPALIVE)
	h.r.send(bgp.NewBGPKeepAliveMessage())
	up := h.event(PeerUp).(*event.PeerUp)
	assert.EqualValues(t, 65001, up.Peer.ASN)
	assert.Equal(t, netip.MustParseAddr("192.0.2.2"), up.Session.RouterID)
	assert.EqualValues(t, 30, up.Session.HoldTime, "the smaller hold time")
	assert.Equal(t, []string{"ipv4_unicast"}, up.Session.Families, "the families both sides name")
	assert.Equal(t, []string{"multiprotocol", "4-octet-as"}, up.Session.Capabilities)

	h.r.send(update4("10.1.0.0/16", []uint32{65001, 12076, 65515}, bgp.NewPathAttributeCommunities([]uint32{65001<<16 | 100})))
	u := h.event(Update).(*event.Update)
	require.Len(t, u.Update.Announced, 1)
	a := u.Update.Announced[0]
	assert.Equal(t, netip.MustParsePrefix("10.1.0.0/16"), a.Prefix)
	assert.Equal(t, netip.MustParseAddr("192.0.2.2"), a.NextHop)
	require.Len(t, a.ASPath, 1)
	assert.Equal(t, []uint32{65001, 12076, 65515}, a.ASPath[0].ASNs)
	assert.Equal(t, []rib.Community{rib.Community(65001<<16 | 100)}, a.Communities)

	w := netip.MustParsePrefix("10.1.0.0/16")
	h.r.send(bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(w.Bits()), w.Addr().String())}, nil, nil))
	u = h.event(Update).(*event.Update)
	require.Len(t, u.Update.Withdrawn, 1)
	assert.Equal(t, w, u.Update.Withdrawn[0].Prefix)

	infos, err := h.s.Peers(context.Background())
	require.NoError(t, err)
	require.Empty(t, infos, "Peers lists the speaker's configured peers; this harness registers none")
	p := newPeer(h.s, PeerConfig{}) // counters start at zero
	assert.Zero(t, p.recv[msgUpdate].Load())
}

// TestCounters: the per-peer message counters of Peers follow the session.
func TestCounters(t *testing.T) {
	s := &Speaker{cfg: Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1")}, logger: zap.NewNop(),
		emit: func(Event) {}, peers: map[netip.Addr]*peer{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer s.cancel()
	p := newPeer(s, PeerConfig{Address: netip.MustParseAddr("192.0.2.2"), ASN: 65001, Name: "edge"})
	s.peers[p.cfg.Address], s.order = p, []*peer{p}
	local, far := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); p.session(local, false) }()
	r := &remote{t: t, c: far, msgs: make(chan *bgp.BGPMessage, 100)}
	go func() {
		defer close(r.msgs)
		buf := make([]byte, 4096)
		for {
			if _, err := far.Read(buf); err != nil {
				return
			}
		}
	}()
	r.send(open(65001, 90, "192.0.2.2", bgp.NewCapFourOctetASNumber(65001)))
	r.send(bgp.NewBGPKeepAliveMessage())
	for range 3 {
		r.send(update4("10.9.0.0/24", []uint32{65001}))
	}
	require.Eventually(t, func() bool {
		infos, _ := s.Peers(context.Background())
		return len(infos) == 1 && infos[0].Established && infos[0].Received.Update == 3
	}, 10*time.Second, 10*time.Millisecond)
	infos, _ := s.Peers(context.Background())
	assert.Equal(t, "edge", infos[0].Name)
	assert.EqualValues(t, 1, infos[0].Received.Open)
	assert.EqualValues(t, 1, infos[0].Received.Keepalive)
	assert.EqualValues(t, 1, infos[0].Sent.Open)
	assert.GreaterOrEqual(t, infos[0].Sent.Keepalive, uint64(1))
	_ = far.Close()
	<-done
	infos, _ = s.Peers(context.Background())
	assert.False(t, infos[0].Established)
	assert.Equal(t, "idle", StateName(infos[0].State))
}

// TestHoldTimerExpires: a peer that goes silent is dropped after the negotiated hold time
// (the smaller of the two) with a HOLD TIMER EXPIRED NOTIFICATION, and the speaker sent
// keepalives meanwhile.
func TestHoldTimerExpires(t *testing.T) {
	h := startSession(t, PeerConfig{HoldTime: 90 * time.Second})
	h.establish(3)
	h.r.next(bgp.BGP_MSG_KEEPALIVE) // at a third of the negotiated 3 s, not of 90 s
	n := h.r.next(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	assert.EqualValues(t, bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, n.ErrorCode)
	down := h.event(PeerDown).(*event.PeerDown)
	assert.Equal(t, "hold-timer-expired", down.Reason)
	assert.EqualValues(t, bgp.BGP_ERROR_HOLD_TIMER_EXPIRED, down.NotificationCode)
	assert.False(t, down.NoNotification, "hold timer expiry sends a NOTIFICATION")
}

// TestBadPeerAS: an OPEN from the wrong ASN gets OPEN MESSAGE ERROR / Bad Peer AS and no
// session.
func TestBadPeerAS(t *testing.T) {
	h := startSession(t, PeerConfig{})
	h.r.next(bgp.BGP_MSG_OPEN)
	h.r.send(open(65099, 90, "192.0.2.2", bgp.NewCapFourOctetASNumber(65099)))
	n := h.r.next(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	assert.EqualValues(t, bgp.BGP_ERROR_OPEN_MESSAGE_ERROR, n.ErrorCode)
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_BAD_PEER_AS, n.ErrorSubcode)
	<-h.done
	var sent []*event.Message
	for len(h.events) > 0 {
		e := <-h.events
		require.NotEqual(t, PeerUp, kindOf(e))
		if m, ok := e.(*event.Message); ok && m.MessageType == "notification" {
			sent = append(sent, m)
		}
	}
	require.Len(t, sent, 1, "the NOTIFICATION sent, as a message event")
	assert.Equal(t, "sent", sent[0].Direction)
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_BAD_PEER_AS, sent[0].NotificationSubcode)
}

// TestNotificationReceived: the peer's CEASE ends the session with its code as the reason.
func TestNotificationReceived(t *testing.T) {
	h := startSession(t, PeerConfig{})
	h.establish(90)
	h.r.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, nil))
	down := h.event(PeerDown).(*event.PeerDown)
	assert.Equal(t, "notification-received code 6(cease) subcode 2(administrative shutdown)", down.Reason)
	assert.EqualValues(t, 6, down.NotificationCode)
	assert.EqualValues(t, 2, down.NotificationSubcode)
	assert.False(t, down.NoNotification)
}

// TestTwoByteASPeer: a peer without the 4-byte ASN capability sends AS_TRANS in AS_PATH and
// the real ASN in AS4_PATH; the path read has the real one.
func TestTwoByteASPeer(t *testing.T) {
	h := startSession(t, PeerConfig{ASN: 65001})
	h.r.next(bgp.BGP_MSG_OPEN)
	h.r.send(open(65001, 90, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC)))
	h.r.next(bgp.BGP_MSG_KEEPALIVE)
	h.r.send(bgp.NewBGPKeepAliveMessage())
	h.event(PeerUp)
	p := netip.MustParsePrefix("10.2.0.0/16")
	h.r.send(bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAsPathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint16{65001, bgp.AS_TRANS, 3})}),
		bgp.NewPathAttributeNextHop("192.0.2.2"),
		bgp.NewPathAttributeAs4Path([]*bgp.As4PathParam{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{4200000001, 3})}),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(16, "10.2.0.0")}))
	a := h.event(Update).(*event.Update).Update.Announced
	require.Len(t, a, 1)
	assert.Equal(t, p, a[0].Prefix)
	var asns []uint32
	for _, s := range a[0].ASPath {
		asns = append(asns, s.ASNs...)
	}
	assert.Equal(t, []uint32{65001, 4200000001, 3}, asns)
}

// TestMalformedUpdateTreatAsWithdraw: an UPDATE with an invalid ORIGIN withdraws its
// prefixes (RFC 7606) and is counted; the session stays up and reads the next UPDATE.
func TestMalformedUpdateTreatAsWithdraw(t *testing.T) {
	h := startSession(t, PeerConfig{})
	h.establish(90)
	bad := update4("10.3.0.0/16", []uint32{65001})
	bad.Body.(*bgp.BGPUpdate).PathAttributes[0] = bgp.NewPathAttributeOrigin(7)
	h.r.send(bad)
	mal := h.event(Malformed).(*event.Malformed)
	assert.Contains(t, mal.Reason, "treated as withdraw")
	u := h.event(Update).(*event.Update)
	assert.Empty(t, u.Update.Announced)
	require.Len(t, u.Update.Withdrawn, 1)
	assert.Equal(t, netip.MustParsePrefix("10.3.0.0/16"), u.Update.Withdrawn[0].Prefix)
	h.r.send(update4("10.4.0.0/16", []uint32{65001}))
	assert.Len(t, h.event(Update).(*event.Update).Update.Announced, 1)
	h.noEvent(PeerDown)
}

// TestBadMarker: a header without the all-ones marker ends the session with MESSAGE
// HEADER ERROR / Connection Not Synchronized.
func TestBadMarker(t *testing.T) {
	h := startSession(t, PeerConfig{})
	h.establish(90)
	b, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	b[3] = 0
	h.r.sendRaw(b)
	n := h.r.next(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	assert.EqualValues(t, bgp.BGP_ERROR_MESSAGE_HEADER_ERROR, n.ErrorCode)
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_CONNECTION_NOT_SYNCHRONIZED, n.ErrorSubcode)
	down := h.event(PeerDown).(*event.PeerDown)
	assert.Contains(t, down.Reason, "notification-sent code 1(header)")
}

// TestStopSendsCease: stopping the speaker closes the session with CEASE / Administrative
// Shutdown; the down is reported as the speaker stopping.
func TestStopSendsCease(t *testing.T) {
	h := startSession(t, PeerConfig{})
	h.establish(90)
	h.s.cancel()
	n := h.r.next(bgp.BGP_MSG_NOTIFICATION).Body.(*bgp.BGPNotification)
	assert.EqualValues(t, bgp.BGP_ERROR_CEASE, n.ErrorCode)
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, n.ErrorSubcode)
	assert.Equal(t, "speaker-stopped", h.event(PeerDown).(*event.PeerDown).Reason)
}

// TestListenerCollision: a passive peer's second connection, while the first is
// established, gets CEASE / Connection Collision Resolution; an address that is not a
// configured peer is refused; Stop releases the port and every goroutine.
func TestListenerCollision(t *testing.T) {
	s, addr, events := startListening(t, PeerConfig{})

	first, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer first.Close()
	r := &remote{t: t, c: first}
	r.send(open(65001, 90, "192.0.2.2", bgp.NewCapFourOctetASNumber(65001)))
	r.send(bgp.NewBGPKeepAliveMessage())
	go func() { _, _ = io.Copy(io.Discard, first) }()
	deadline := time.After(20 * time.Second)
	for up := false; !up; {
		select {
		case e := <-events:
			up = kindOf(e) == PeerUp
		case <-deadline:
			t.Fatal("no session")
		}
	}

	second, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, err := io.ReadAtLeast(second, buf, bgp.BGP_HEADER_LENGTH+2)
	require.NoError(t, err)
	m, err := bgp.ParseBGPMessage(buf[:n])
	require.NoError(t, err)
	nb, ok := m.Body.(*bgp.BGPNotification)
	require.True(t, ok, "a NOTIFICATION, got type %d", m.Header.Type)
	assert.EqualValues(t, bgp.BGP_ERROR_CEASE, nb.ErrorCode)
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, nb.ErrorSubcode)

	// 127.0.0.9 is no peer: the connection is closed without a byte.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}}
	stranger, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer stranger.Close()
	_ = stranger.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = stranger.Read(buf)
	assert.ErrorIs(t, err, io.EOF)

	infos, _ := s.Peers(context.Background())
	require.Len(t, infos, 1)
	assert.True(t, infos[0].Established, "the first session survives the collision")
}

// FuzzSession feeds arbitrary bytes to an established session: whatever they are, the
// session ends cleanly (no panic, no hang) when the bytes run out, and every Update event
// holds only valid prefixes.
func FuzzSession(f *testing.F) {
	seed := func(ms ...*bgp.BGPMessage) []byte {
		var out []byte
		for _, m := range ms {
			b, _ := m.Serialize()
			out = append(out, b...)
		}
		return out
	}
	good := seed(update4("10.1.0.0/16", []uint32{65001, 12076}), bgp.NewBGPKeepAliveMessage())
	f.Add(good)
	f.Add(good[:30])
	bad := update4("10.3.0.0/16", []uint32{65001})
	bad.Body.(*bgp.BGPUpdate).PathAttributes[0] = bgp.NewPathAttributeOrigin(9)
	f.Add(seed(bad))
	long := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(long[16:18], 5000)
	f.Add(long)
	short := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(short[16:18], 10)
	f.Add(short)
	typ := append([]byte(nil), good...)
	typ[18] = 9
	f.Add(typ)
	f.Add(seed(bgp.NewBGPNotificationMessage(6, 2, nil)))
	f.Add(seed(bgp.NewBGPRouteRefreshMessage(1, 0, 1)))
	f.Add(seed(open(65001, 90, "192.0.2.2")))
	f.Fuzz(func(t *testing.T, data []byte) {
		events := make(chan Event, 1<<16)
		s := &Speaker{cfg: Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1")}, logger: zap.NewNop(),
			emit: func(e Event) {
				select {
				case events <- e:
				default:
				}
			}, peers: map[netip.Addr]*peer{}}
		s.ctx, s.cancel = context.WithCancel(context.Background())
		defer s.cancel()
		p := newPeer(s, PeerConfig{Address: netip.MustParseAddr("192.0.2.2"), ASN: 65001})
		local, far := net.Pipe()
		done := make(chan struct{})
		go func() { defer close(done); p.session(local, false) }()
		go func() { _, _ = io.Copy(io.Discard, far) }()
		pre := seed(open(65001, 90, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
			bgp.NewCapFourOctetASNumber(65001)), bgp.NewBGPKeepAliveMessage())
		_ = far.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = far.Write(pre)
		_, _ = far.Write(data)
		_ = far.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the session did not end when the connection closed")
		}
		close(events)
		for e := range events {
			u, ok := e.(*event.Update)
			if !ok {
				continue
			}
			for _, a := range u.Announced {
				if !a.Prefix.IsValid() {
					t.Fatalf("invalid prefix announced: %+v", a)
				}
			}
		}
	})
}

func readMsg(t *testing.T, c net.Conn) *bgp.BGPMessage {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	hdr := make([]byte, bgp.BGP_HEADER_LENGTH)
	_, err := io.ReadFull(c, hdr)
	require.NoError(t, err)
	body := make([]byte, int(binary.BigEndian.Uint16(hdr[16:18]))-bgp.BGP_HEADER_LENGTH)
	_, err = io.ReadFull(c, body)
	require.NoError(t, err)
	m, err := bgp.ParseBGPMessage(append(hdr, body...))
	require.NoError(t, err)
	return m
}

// startListening starts a speaker (AS 65000) listening on 127.0.0.1 with one passive peer,
// 127.0.0.1 AS 65001, configured as pc otherwise; it stops with the test.
func startListening(t *testing.T, pc PeerConfig) (*Speaker, string, chan Event) {
	t.Helper()
	port := freePort(t)
	pc.Address, pc.ASN, pc.Passive = netip.MustParseAddr("127.0.0.1"), 65001, true
	events := make(chan Event, 100)
	s, err := Start(Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenAddresses: []string{"127.0.0.1"}, ListenPort: int32(port),
		Peers: []PeerConfig{pc}}, zaptest.NewLogger(t), func(e Event) { events <- e })
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	return s, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), events
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCollision: the speaker (BGP ID 192.0.2.1) opened a connection to the peer and the peer
// opened one to the speaker; RFC 4271 6.8 keeps the connection opened by the side with the
// higher BGP identifier, and both sides decide alike, so the session comes up on exactly one.
func TestCollision(t *testing.T) {
	for _, tc := range []struct {
		name, peerID string
		peerWins     bool
	}{{"peer ID higher", "192.0.2.200", true}, {"peer ID lower", "10.0.0.1", false}} {
		t.Run(tc.name, func(t *testing.T) {
			router, err := net.Listen("tcp4", "127.0.0.1:0")
			require.NoError(t, err)
			defer router.Close()
			listen := freePort(t)
			events := make(chan Event, 100)
			s, err := Start(Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenAddresses: []string{"127.0.0.1"}, ListenPort: int32(listen),
				Peers: []PeerConfig{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65001, Port: uint16(router.Addr().(*net.TCPAddr).Port), ConnectRetry: time.Second}}},
				zaptest.NewLogger(t), func(e Event) { events <- e })
			require.NoError(t, err)
			defer s.Stop()

			ours, err := router.Accept() // the speaker's connection
			require.NoError(t, err)
			defer ours.Close()
			require.EqualValues(t, bgp.BGP_MSG_OPEN, readMsg(t, ours).Header.Type)
			theirs, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(listen)))
			require.NoError(t, err)
			defer theirs.Close()
			time.Sleep(100 * time.Millisecond) // let the listener hand the second connection over
			o := open(65001, 90, tc.peerID, bgp.NewCapFourOctetASNumber(65001))
			r := &remote{t: t, c: ours}
			r.send(o)

			lost, won := theirs, ours
			if tc.peerWins {
				lost, won = ours, theirs
			}
			n, ok := readMsg(t, lost).Body.(*bgp.BGPNotification)
			require.True(t, ok, "the losing connection gets a NOTIFICATION")
			assert.EqualValues(t, bgp.BGP_ERROR_CEASE, n.ErrorCode)
			assert.EqualValues(t, bgp.BGP_ERROR_SUB_CONNECTION_COLLISION_RESOLUTION, n.ErrorSubcode)

			w := &remote{t: t, c: won}
			if tc.peerWins {
				require.EqualValues(t, bgp.BGP_MSG_OPEN, readMsg(t, won).Header.Type, "a session starts on the peer's connection")
				w.send(o)
			}
			require.EqualValues(t, bgp.BGP_MSG_KEEPALIVE, readMsg(t, won).Header.Type)
			w.send(bgp.NewBGPKeepAliveMessage())
			deadline := time.After(20 * time.Second)
			for up := false; !up; {
				select {
				case e := <-events:
					require.NotEqual(t, PeerDown, kindOf(e))
					up = kindOf(e) == PeerUp
				case <-deadline:
					t.Fatal("no session")
				}
			}
			infos, _ := s.Peers(context.Background())
			assert.True(t, infos[0].Established)
		})
	}
}

// TestMaxPrefixes: distinct routes are counted (a re-announcement is not a new route, a
// withdrawal frees one); the route beyond max_prefixes closes the session with CEASE /
// Maximum Number of Prefixes Reached and is not delivered, and the peer's next connection
// is refused with CEASE / Connection Rejected while the restart delay runs.
func TestMaxPrefixes(t *testing.T) {
	_, addr, events := startListening(t, PeerConfig{MaxPrefixes: 3, MaxPrefixesRestart: time.Hour})
	c, err := net.Dial("tcp4", addr)
	require.NoError(t, err)
	defer c.Close()
	r := &remote{t: t, c: c}
	r.send(open(65001, 90, "192.0.2.2", bgp.NewCapFourOctetASNumber(65001)))
	r.send(bgp.NewBGPKeepAliveMessage())
	withdraw := func(pfx string) *bgp.BGPMessage {
		p := netip.MustParsePrefix(pfx)
		return bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())}, nil, nil)
	}
	for _, m := range []*bgp.BGPMessage{
		update4("10.0.1.0/24", []uint32{65001}), update4("10.0.2.0/24", []uint32{65001}),
		update4("10.0.1.0/24", []uint32{65001, 65001}), withdraw("10.0.2.0/24"),
		update4("10.0.3.0/24", []uint32{65001}), update4("10.0.4.0/24", []uint32{65001}), // 3 routes: at the limit
		update4("10.0.5.0/24", []uint32{65001}), // the fourth
	} {
		r.send(m)
	}
	var updates int
	var down *event.PeerDown
	deadline := time.After(20 * time.Second)
	for down == nil {
		select {
		case e := <-events:
			switch e := e.(type) {
			case *event.Update:
				updates++
				for _, a := range e.Announced {
					assert.NotEqual(t, netip.MustParsePrefix("10.0.5.0/24"), a.Prefix, "the route beyond the limit is not delivered")
				}
			case *event.PeerDown:
				down = e
			}
		case <-deadline:
			t.Fatal("no session down")
		}
	}
	assert.Equal(t, 6, updates)
	assert.Contains(t, down.Reason, "notification-sent code 6(cease) subcode 1(maximum number of prefixes reached)")
	assert.Contains(t, down.Reason, "4 routes, max_prefixes 3")
	var last *bgp.BGPMessage
	for {
		m := readMsg(t, c)
		if m.Header.Type == bgp.BGP_MSG_NOTIFICATION {
			last = m
			break
		}
	}
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_MAXIMUM_NUMBER_OF_PREFIXES_REACHED, last.Body.(*bgp.BGPNotification).ErrorSubcode)

	again, err := net.Dial("tcp4", addr)
	require.NoError(t, err)
	defer again.Close()
	n, ok := readMsg(t, again).Body.(*bgp.BGPNotification)
	require.True(t, ok, "a NOTIFICATION, not an OPEN, during the restart delay")
	assert.EqualValues(t, bgp.BGP_ERROR_SUB_CONNECTION_REJECTED, n.ErrorSubcode)
}

// TestAddPath: with add_path the OPEN asks to receive path IDs; when the peer offers to send
// them, two paths of one prefix arrive as two routes with their IDs, and a withdrawal names
// one of them.
func TestAddPath(t *testing.T) {
	h := startSession(t, PeerConfig{AddPath: true})
	o := h.r.next(bgp.BGP_MSG_OPEN).Body.(*bgp.BGPOpen)
	var asked []bgp.RouteFamily
	for _, op := range o.OptParams {
		for _, c := range op.(*bgp.OptionParameterCapability).Capability {
			if ap, ok := c.(*bgp.CapAddPath); ok {
				for _, tu := range ap.Tuples {
					assert.Equal(t, bgp.BGP_ADD_PATH_RECEIVE, tu.Mode)
					asked = append(asked, tu.RouteFamily)
				}
			}
		}
	}
	assert.Equal(t, []bgp.RouteFamily{bgp.RF_IPv4_UC}, asked)
	h.r.send(open(65001, 90, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(65001),
		bgp.NewCapAddPath([]*bgp.CapAddPathTuple{bgp.NewCapAddPathTuple(bgp.RF_IPv4_UC, bgp.BGP_ADD_PATH_SEND)})))
	h.r.next(bgp.BGP_MSG_KEEPALIVE)
	h.r.send(bgp.NewBGPKeepAliveMessage())
	h.event(PeerUp)
	send := &bgp.MarshallingOption{AddPath: map[bgp.RouteFamily]bgp.BGPAddPathMode{bgp.RF_IPv4_UC: bgp.BGP_ADD_PATH_SEND}}
	path := func(id uint32, nh string, asns ...uint32) []byte {
		n := bgp.NewIPAddrPrefix(16, "10.7.0.0")
		n.SetPathLocalIdentifier(id)
		m := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(0),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, asns)}),
			bgp.NewPathAttributeNextHop(nh),
		}, []*bgp.IPAddrPrefix{n})
		b, err := m.Serialize(send)
		require.NoError(t, err)
		return b
	}
	h.r.sendRaw(path(1, "192.0.2.2", 65001))
	h.r.sendRaw(path(2, "192.0.2.3", 65001, 65002))
	a1 := h.event(Update).(*event.Update).Update.Announced
	a2 := h.event(Update).(*event.Update).Update.Announced
	require.Len(t, a1, 1)
	require.Len(t, a2, 1)
	assert.Equal(t, netip.MustParsePrefix("10.7.0.0/16"), a1[0].Prefix)
	assert.EqualValues(t, 1, a1[0].ID)
	assert.EqualValues(t, 2, a2[0].ID)
	assert.Equal(t, netip.MustParseAddr("192.0.2.3"), a2[0].NextHop)
	w := bgp.NewIPAddrPrefix(16, "10.7.0.0")
	w.SetPathLocalIdentifier(2)
	b, err := bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{w}, nil, nil).Serialize(send)
	require.NoError(t, err)
	h.r.sendRaw(b)
	wd := h.event(Update).(*event.Update).Update.Withdrawn
	require.Len(t, wd, 1)
	assert.EqualValues(t, 2, wd[0].ID)
}

func grCap(o *bgp.BGPOpen) *bgp.CapGracefulRestart {
	for _, op := range o.OptParams {
		if pc, ok := op.(*bgp.OptionParameterCapability); ok {
			for _, c := range pc.Capability {
				if gr, ok := c.(*bgp.CapGracefulRestart); ok {
					return gr
				}
			}
		}
	}
	return nil
}

// establishGR runs the OPEN exchange as a peer advertising Graceful Restart with restart
// time secs and the given tuples; it returns the speaker's OPEN and the PeerUp.
func (h *harness) establishGR(secs uint16, tuples ...*bgp.CapGracefulRestartTuple) (*bgp.BGPOpen, *event.PeerUp) {
	h.t.Helper()
	o := h.r.next(bgp.BGP_MSG_OPEN).Body.(*bgp.BGPOpen)
	h.r.send(open(65001, 90, "192.0.2.2", bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(65001),
		bgp.NewCapGracefulRestart(true, false, secs, tuples)))
	h.r.next(bgp.BGP_MSG_KEEPALIVE)
	h.r.send(bgp.NewBGPKeepAliveMessage())
	return o, h.event(PeerUp).(*event.PeerUp)
}

// TestGracefulRestart: with GracefulRestart the speaker advertises the capability as a
// receiving speaker only (restart time 120 s, no family, no flag), sends the IPv4 End-of-RIB
// once established, reports the peer's capability in PeerUp, and a session whose connection
// closes without NOTIFICATION ends with a PeerDown marked as a graceful restart.
func TestGracefulRestart(t *testing.T) {
	h := startSession(t, PeerConfig{GracefulRestart: true})
	o, up := h.establishGR(30, bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, true), bgp.NewCapGracefulRestartTuple(bgp.RF_IPv6_UC, true))
	gr := grCap(o)
	require.NotNil(t, gr, "the speaker's OPEN has the Graceful Restart capability")
	assert.EqualValues(t, 120, gr.Time)
	assert.EqualValues(t, 0, gr.Flags)
	assert.Empty(t, gr.Tuples)
	assert.True(t, up.GracefulRestart)
	assert.Equal(t, 30*time.Second, up.RestartTime)
	assert.Equal(t, map[string]bool{"ipv4_unicast": true}, up.GracefulFamilies, "IPv6 was not negotiated")
	assert.Contains(t, up.Session.Capabilities, "graceful-restart")
	eor := h.r.next(bgp.BGP_MSG_UPDATE).Body.(*bgp.BGPUpdate)
	u := bgpconv.FromUpdate(eor)
	assert.True(t, u.EndOfRIB)
	assert.Equal(t, "ipv4_unicast", u.EndOfRIBFamily)

	_ = h.r.c.Close() // the peer's process dies: no NOTIFICATION
	down := h.event(PeerDown).(*event.PeerDown)
	assert.Equal(t, "connection-closed", down.Reason)
	assert.True(t, down.NoNotification)
	assert.True(t, down.GracefulRestart)
	assert.Equal(t, 30*time.Second, down.RestartTime)
	assert.Equal(t, map[string]bool{"ipv4_unicast": true}, down.GracefulFamilies)
	assert.Zero(t, down.NotificationCode)
}

// TestGracefulRestartNotApplied: a NOTIFICATION ends the session normally even with the
// capability negotiated; a restart time of 0 or no family is no graceful restart; and a
// speaker without GracefulRestart neither advertises the capability nor sends End-of-RIB.
func TestGracefulRestartNotApplied(t *testing.T) {
	t.Run("notification", func(t *testing.T) {
		h := startSession(t, PeerConfig{GracefulRestart: true})
		_, up := h.establishGR(30, bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, false))
		assert.True(t, up.GracefulRestart)
		assert.Equal(t, map[string]bool{"ipv4_unicast": false}, up.GracefulFamilies)
		h.r.send(bgp.NewBGPNotificationMessage(bgp.BGP_ERROR_CEASE, bgp.BGP_ERROR_SUB_ADMINISTRATIVE_RESET, nil))
		down := h.event(PeerDown).(*event.PeerDown)
		assert.False(t, down.NoNotification)
		assert.False(t, down.GracefulRestart)
	})
	t.Run("no family", func(t *testing.T) {
		h := startSession(t, PeerConfig{GracefulRestart: true})
		_, up := h.establishGR(120) // a helper-only peer (FRR's default)
		assert.False(t, up.GracefulRestart)
		h.r.next(bgp.BGP_MSG_UPDATE) // End-of-RIB: both advertised the capability
		_ = h.r.c.Close()
		down := h.event(PeerDown).(*event.PeerDown)
		assert.True(t, down.NoNotification)
		assert.False(t, down.GracefulRestart)
	})
	t.Run("restart time 0", func(t *testing.T) {
		h := startSession(t, PeerConfig{GracefulRestart: true})
		_, up := h.establishGR(0, bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, true)) // BIRD's "aware" mode
		assert.False(t, up.GracefulRestart)
		_ = h.r.c.Close()
		assert.False(t, h.event(PeerDown).(*event.PeerDown).GracefulRestart)
	})
	t.Run("off", func(t *testing.T) {
		h := startSession(t, PeerConfig{})
		o, up := h.establishGR(30, bgp.NewCapGracefulRestartTuple(bgp.RF_IPv4_UC, true))
		assert.Nil(t, grCap(o))
		assert.False(t, up.GracefulRestart)
		h.r.send(bgp.NewBGPKeepAliveMessage())
		_ = h.r.c.Close()
		down := h.event(PeerDown).(*event.PeerDown)
		assert.True(t, down.NoNotification)
		assert.False(t, down.GracefulRestart)
		for m := range h.r.msgs {
			assert.NotEqual(t, bgp.BGP_MSG_UPDATE, m.Header.Type, "no End-of-RIB without the capability")
		}
	})
}

// TestEndOfRIBFamily: the IPv4 marker (an empty UPDATE) and the IPv6 one (MP_UNREACH_NLRI
// without NLRI) are both End-of-RIB, each with its family.
func TestEndOfRIBFamily(t *testing.T) {
	for _, rf := range []bgp.RouteFamily{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC} {
		m := bgp.NewEndOfRib(rf)
		b, err := m.Serialize()
		require.NoError(t, err)
		p, err := bgp.ParseBGPMessage(b)
		require.NoError(t, err)
		u := bgpconv.FromUpdate(p.Body.(*bgp.BGPUpdate))
		assert.True(t, u.EndOfRIB, rf.String())
		assert.Equal(t, bgpconv.FamilyName(rf), u.EndOfRIBFamily)
	}
}

// Event is what the speaker emits.
type Event = event.Event

// EventKind tells the events apart in these tests.
type EventKind int

const (
	PeerUp EventKind = iota + 1
	PeerDown
	Update
	Message
	Malformed
)

func kindOf(e event.Event) EventKind {
	switch e.(type) {
	case *event.PeerUp:
		return PeerUp
	case *event.PeerDown:
		return PeerDown
	case *event.Update:
		return Update
	case *event.Message:
		return Message
	case *event.Malformed:
		return Malformed
	}
	return 0
}
