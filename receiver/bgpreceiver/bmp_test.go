package bgpreceiver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/bmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/confignet"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	bmpsrc "github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bmp"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadatatest"
)

// TestBMPFromFRR: FRR's bgpd peers with BIRD and reports it over BMP (pre-policy route
// monitoring and route mirroring) to the receiver's station.
func TestBMPFromFRR(t *testing.T) {
	testutil.NeedBinary(t, "bgpd")
	station := testutil.FreeTCPPort(t, "127.0.0.1")
	frrPort := testutil.FreeTCPPort(t, "127.0.0.11")
	cfg := createDefaultConfig()
	cfg.CollectionInterval = time.Second
	cfg.BMP = BMPConfig{TCPAddrConfig: confignet.TCPAddrConfig{Endpoint: fmt.Sprintf("127.0.0.1:%d", station)}, Allowed: []string{"127.0.0.0/8"}}
	logs, metrics := startReceiver(t, cfg)

	startFRR(t, "127.0.0.11", frrPort, fmt.Sprintf(`router bgp 65101
 bgp router-id 127.0.0.11
 no bgp ebgp-requires-policy
 neighbor 127.0.0.12 remote-as 65102
 neighbor 127.0.0.12 ebgp-multihop 2
 neighbor 127.0.0.12 passive
 neighbor 127.0.0.12 timers 3 9
 neighbor 127.0.0.12 soft-reconfiguration inbound
 !
 bmp targets collector
  bmp monitor ipv4 unicast pre-policy
  bmp mirror
  bmp connect 127.0.0.1 port %d min-retry 100 max-retry 1000
 exit
!
`, station))
	b := startBird(t, "127.0.0.12", fmt.Sprintf(`protocol static statics { ipv4;
  route 10.66.0.0/16 blackhole;
  route 10.66.1.0/24 blackhole;
}
protocol bgp frr {
  local 127.0.0.12 as 65102;
  neighbor 127.0.0.11 port %d as 65101;
  multihop;
  hold time 9;
  connect delay time 1;
  ipv4 {
    import none;
    next hop address 192.0.2.12;
    export filter { if net = 10.66.1.0/24 then { bgp_path.prepend(65030); bgp_path.prepend(12076); } accept; };
  };
}
`, frrPort))

	// FRR opens the BMP session from 127.0.0.1: that is the router as the station sees it.
	bmpRecs := func(kv ...string) int {
		return len(find(logs, append([]string{schema.BGPSource, "bmp", schema.BGPRouterAddress, "127.0.0.1"}, kv...)...))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, lr := range records(logs) {
				t.Log(lr.Body().Str())
			}
		}
	})
	eventually(t, 60*time.Second, "BMP peer up and routes", func() bool {
		return bmpRecs(schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "127.0.0.12") == 1 &&
			bmpRecs(schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.66.1.0/24") == 1 &&
			bmpRecs(schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.66.0.0/16") == 1
	})
	// The peer up carries what FRR and BIRD negotiated (BIRD's identifier, hold time 9 s).
	up := find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "127.0.0.12")[0]
	assert.Equal(t, "127.0.0.12", str(up, schema.BGPPeerRouterID))
	hold, _ := intAttr(up, schema.BGPHoldTime)
	assert.EqualValues(t, 9, hold)
	assert.Contains(t, str(up, schema.BGPFamilies), `"ipv4_unicast"`)
	ann := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.66.1.0/24")[0]
	// FRR 8.4 puts its own ASN in front of the paths it reports as pre-policy.
	assert.Regexp(t, `^(65101 )?65102 12076 65030$`, str(ann, schema.BGPASPath))
	origin, _ := intAttr(ann, schema.BGPOriginASN)
	assert.EqualValues(t, 65030, origin)
	assert.Equal(t, "expressroute", str(ann, schema.BGPRouteClass))
	assert.Equal(t, "192.0.2.12", str(ann, schema.BGPNextHop))
	asn, _ := intAttr(ann, schema.BGPPeerASN)
	assert.EqualValues(t, 65102, asn)
	pp, _ := ann.Attributes().Get(schema.BGPPostPolicy)
	assert.False(t, pp.Bool(), "pre-policy monitoring")
	// The OPENs of the peer-up message (the received one is mirrored too), and mirrored
	// keepalives.
	assert.GreaterOrEqual(t, bmpRecs(schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "open", schema.BGPMessageDirection, "received"), 1)
	assert.Equal(t, 1, bmpRecs(schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "open", schema.BGPMessageDirection, "sent"))
	eventually(t, 20*time.Second, "mirrored keepalives", func() bool {
		return bmpRecs(schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "keepalive") >= 2
	})

	// A withdrawal, then the peer going down with a NOTIFICATION.
	w1 := bmpRecs(schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.66.1.0/24")
	w2 := bmpRecs(schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.66.0.0/16")
	b.ctl("disable", "statics")
	eventually(t, 20*time.Second, "withdrawals over BMP", func() bool {
		return bmpRecs(schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.66.1.0/24") == w1+1 &&
			bmpRecs(schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.66.0.0/16") == w2+1
	})
	// FRR may report the peer down (without NOTIFICATION) before its first session: look
	// for the down that BIRD's shutdown causes.
	b.ctl("disable", "frr")
	eventually(t, 20*time.Second, "BMP peer down", func() bool {
		return bmpRecs(schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.12", schema.BGPNotificationCode, "6") == 1
	})
	down := find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPSource, "bmp", schema.BGPNotificationCode, "6")[0]
	assert.Contains(t, str(down, schema.BGPDownReason), "remote-notification")
	sub, _ := intAttr(down, schema.BGPNotificationSubcode)
	assert.EqualValues(t, 2, sub, "administrative shutdown")
	eventually(t, 10*time.Second, "BMP peer state metric", func() bool {
		st, ok := metricValue(metrics, "bgp.peer.state", map[string]string{"bgp.source": "bmp", "bgp.peer.address": "127.0.0.12", "bgp.router.address": "127.0.0.1"})
		ka, _ := metricValue(metrics, "bgp.peer.messages", map[string]string{"bgp.source": "bmp", "bgp.peer.address": "127.0.0.12", "bgp.message.type": "keepalive"})
		return ok && st == 0 && ka >= 2
	})
}

func bmpPeerUp(t testing.TB, peer string, asn uint32) []byte {
	open := bgp.NewBGPOpenMessage(uint16(asn), 9, "192.0.2.50", nil)
	m := bmp.NewBMPPeerUpNotification(*bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peer, asn, "192.0.2.50", 0),
		"127.0.0.1", 179, 40000, open, open)
	b, err := m.Serialize()
	require.NoError(t, err)
	return b
}

func bmpRoute(t testing.TB, peer string, asn uint32, prefix string) []byte {
	p := netip.MustParsePrefix(prefix)
	u := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn, 65077})}),
		bgp.NewPathAttributeNextHop("192.0.2.50"),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())})
	m := bmp.NewBMPRouteMonitoring(*bmp.NewBMPPeerHeader(bmp.BMP_PEER_TYPE_GLOBAL, 0, 0, peer, asn, "192.0.2.50", 0), u)
	b, err := m.Serialize()
	require.NoError(t, err)
	return b
}

// TestBMPMalformed: unknown types, truncated BGP messages inside a well-framed BMP message,
// and garbage peer headers are counted and skipped, and the session goes on; a broken common
// header closes the session (the stream cannot be followed) and is counted too.
func TestBMPMalformed(t *testing.T) {
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	port := testutil.FreeTCPPort(t, "127.0.0.1")
	cfg := createDefaultConfig()
	cfg.BMP.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
	logs, _ := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))

	c, err := net.Dial("tcp", cfg.BMP.Endpoint)
	require.NoError(t, err)
	defer c.Close()
	var stream bytes.Buffer
	stream.Write(bmpPeerUp(t, "192.0.2.60", 65060))
	stream.Write([]byte{3, 0, 0, 0, 10, 99, 1, 2, 3, 4}) // unknown type 99
	route := bmpRoute(t, "192.0.2.60", 65060, "10.77.0.0/16")
	broken := append([]byte(nil), route...)
	// Cut the BGP message short inside an intact BMP frame: its own length now lies.
	broken = broken[:len(broken)-3]
	broken[1], broken[2], broken[3], broken[4] = 0, 0, byte(len(broken)>>8), byte(len(broken))
	stream.Write(broken)
	stream.Write([]byte{3, 0, 0, 0, 7, 0, 0}) // route monitoring without a peer header
	stream.Write(bmpRoute(t, "192.0.2.60", 65060, "10.78.0.0/16"))
	_, err = c.Write(stream.Bytes())
	require.NoError(t, err)
	eventually(t, 10*time.Second, "the valid messages after the malformed ones", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "192.0.2.60")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.78.0.0/16")) == 1
	})
	assert.Empty(t, find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.77.0.0/16"))

	// A broken common header ends the session; the peers it reported go down with it.
	_, err = c.Write([]byte{9, 0, 0, 0, 6, 0})
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = io.ReadAll(c)
	require.NoError(t, err, "the station closes the session")
	eventually(t, 10*time.Second, "peer down with the session", func() bool {
		d := find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "192.0.2.60")
		return len(d) == 1 && str(d[0], schema.BGPDownReason) == "bmp-session-closed"
	})
	metadatatest.AssertEqualReceiverBgpMalformed(t, tt, []metricdata.DataPoint[int64]{
		{Value: 4, Attributes: attribute.NewSet(attribute.String(schema.BGPSource, "bmp"))},
	}, metricdatatest.IgnoreTimestamp())
}

// FuzzBMPFraming feeds arbitrary streams to the framing and decoding of the station: no
// panic, no message beyond the bound, and every decoded event is well formed.
func FuzzBMPFraming(f *testing.F) {
	up := bmpPeerUp(f, "192.0.2.60", 65060)
	route := bmpRoute(f, "192.0.2.60", 65060, "10.78.0.0/16")
	f.Add(up)
	f.Add(route)
	f.Add(append(append([]byte(nil), up...), route...))
	f.Add([]byte{3, 0, 0, 0, 10, 99, 1, 2, 3, 4})
	f.Add([]byte{3, 0, 0, 0, 7, 0, 0})
	f.Add([]byte{3, 0xff, 0xff, 0xff, 0xff, 0})
	f.Add(route[:len(route)-5])
	router := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		for {
			msg, err := bmpsrc.Read(r, buf)
			buf = msg
			if err != nil {
				return
			}
			if len(msg) > bmpsrc.MaxMessage {
				t.Fatalf("message of %d bytes", len(msg))
			}
			res, err := bmpsrc.Decode(router, msg)
			if err != nil {
				continue
			}
			for _, e := range res.Events {
				if e == nil || e.Head().Peer.Router != router {
					t.Fatalf("bad event %+v", e)
				}
			}
		}
	})
}
