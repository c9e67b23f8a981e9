package bgpreceiver

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadatatest"
	bgpmrt "github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/mrt"
)

// birdSession is a BGP protocol of a test BIRD towards another BIRD on loopback.
func birdSession(name, local string, localPort int, asn uint32, neighbor string, neighborPort int, nasn uint32, nextHop, export string) string {
	return fmt.Sprintf(`protocol bgp %s {
  local %s port %d as %d;
  neighbor %s port %d as %d;
  multihop;
  hold time 9;
  connect delay time 1;
  error wait time 1,2;
  ipv4 { import all; next hop address %s; export filter { %s }; };
}
`, name, local, localPort, asn, neighbor, neighborPort, nasn, nextHop, export)
}

// TestMRTFromBIRD follows the MRT message log that a BIRD 2 router writes (mrtdump states,
// messages) while two other BIRDs announce routes to it: the routes, their analyses, the
// BGP messages, a backup path that goes away and a session shut down with a NOTIFICATION
// all come out of the file.
func TestMRTFromBIRD(t *testing.T) {
	dir := t.TempDir()
	// W (the NVA writing the log) peers with R (Route Server-like, AS 65515) and E (an edge).
	wr := testutil.FreeTCPPort(t, "127.0.0.21")
	we := testutil.FreeTCPPort(t, "127.0.0.21")
	for we == wr { // both of W's sessions listen on its address: two ports
		we = testutil.FreeTCPPort(t, "127.0.0.21")
	}
	rp := testutil.FreeTCPPort(t, "127.0.0.22")
	ep := testutil.FreeTCPPort(t, "127.0.0.23")
	startBird(t, "127.0.0.21", fmt.Sprintf("mrtdump %q;\nmrtdump protocols { states, messages };\n", filepath.Join(dir, "w.mrt"))+
		birdSession("routeserver", "127.0.0.21", wr, 65010, "127.0.0.22", rp, 65515, "192.0.2.21", "reject;")+
		birdSession("edge", "127.0.0.21", we, 65010, "127.0.0.23", ep, 65001, "192.0.2.21", "reject;"))
	startBird(t, "127.0.0.22", `protocol static vnets { ipv4;
  route 10.1.0.0/16 blackhole;
  route 10.1.128.0/17 blackhole;
  route 192.168.50.0/24 blackhole;
  route 10.9.0.0/24 blackhole;
}
`+birdSession("nva", "127.0.0.22", rp, 65515, "127.0.0.21", wr, 65010, "192.0.2.22", `
      if net = 10.1.128.0/17 then bgp_path.prepend(65020);
      if net = 192.168.50.0/24 then { bgp_path.prepend(65030); bgp_path.prepend(12076); }
      accept;`))
	e := startBird(t, "127.0.0.23", `protocol static backup { ipv4; route 10.9.0.0/24 blackhole; }
`+birdSession("nva", "127.0.0.23", ep, 65001, "127.0.0.21", we, 65010, "192.0.2.23", "accept;"))

	cfg := baseConfig()
	cfg.MRT.Include = []string{filepath.Join(dir, "*.mrt")}
	cfg.MRT.PollInterval = 50 * time.Millisecond
	logs, metrics := startReceiver(t, cfg)

	announced := func(prefix, peer string) int {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, prefix, schema.BGPPeerAddress, peer))
	}
	eventually(t, 40*time.Second, "both sessions up and every route announced, from the file", func() bool {
		return upCount(logs, "127.0.0.22") == 1 && upCount(logs, "127.0.0.23") == 1 &&
			announced("10.1.0.0/16", "127.0.0.22") > 0 && announced("10.1.128.0/17", "127.0.0.22") > 0 &&
			announced("192.168.50.0/24", "127.0.0.22") > 0 && announced("10.9.0.0/24", "127.0.0.22") > 0 &&
			announced("10.9.0.0/24", "127.0.0.23") > 0
	})
	up := find(logs, schema.BGPEvent, schema.BGPEventPeerUp, schema.BGPPeerAddress, "127.0.0.22")[0]
	assert.Equal(t, "mrt", str(up, schema.BGPSource))
	assert.Equal(t, "127.0.0.21", str(up, schema.BGPRouterAddress), "the router that wrote the file")
	asn, _ := intAttr(up, schema.BGPPeerASN)
	assert.EqualValues(t, 65515, asn)

	er := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "192.168.50.0/24")[0]
	assert.Equal(t, "65515 12076 65030", str(er, schema.BGPASPath))
	assert.Equal(t, "expressroute", str(er, schema.BGPRouteClass))
	assert.Equal(t, "192.0.2.22", str(er, schema.BGPNextHop))
	assert.Equal(t, "mrt", str(er, schema.BGPSource))
	vnet := find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.1.0.0/16")[0]
	assert.Equal(t, "azure", str(vnet, schema.BGPRouteClass), "origin 65515")

	// OPEN and KEEPALIVE messages of the log, one event each, with the message counters.
	eventually(t, 20*time.Second, "OPEN and KEEPALIVE messages", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "open", schema.BGPPeerAddress, "127.0.0.23")) >= 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "keepalive", schema.BGPPeerAddress, "127.0.0.23")) >= 1
	})
	open := find(logs, schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "open", schema.BGPPeerAddress, "127.0.0.23")[0]
	assert.Equal(t, "received", str(open, schema.BGPMessageDirection))
	eventually(t, 10*time.Second, "metrics of the file's peers", func() bool {
		upd, _ := metricValue(metrics, "bgp.peer.messages", map[string]string{"bgp.peer.address": "127.0.0.22", "bgp.message.type": "update", "bgp.message.direction": "received", "bgp.source": "mrt"})
		ov, _ := metricValue(metrics, "bgp.overlaps.active", nil)
		st, _ := metricValue(metrics, "bgp.peer.state", map[string]string{"bgp.peer.address": "127.0.0.23", "bgp.source": "mrt"})
		return upd >= 1 && ov == 2 && st == 1
	})
	ov := find(logs, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.1.128.0/17")
	require.Len(t, ov, 1)
	assert.Equal(t, `["10.1.0.0/16"]`, str(ov[0], schema.BGPRelatedPrefixes))

	// The backup path goes away: withdrawn in the log, lost redundancy starts.
	e.ctl("disable", "backup")
	eventually(t, 15*time.Second, "withdrawal and lost-redundancy start", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.9.0.0/24", schema.BGPPeerAddress, "127.0.0.23")) == 1 &&
			len(find(logs, schema.BGPEvent, schema.BGPEventLostRedundancy, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.9.0.0/24")) == 1
	})

	// E shuts its session down: the NOTIFICATION and the state change in the log make a
	// peer-down event with the reason.
	e.ctl("disable", "nva")
	eventually(t, 15*time.Second, "peer down from the log", func() bool {
		return len(find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.23")) == 1
	})
	down := find(logs, schema.BGPEvent, schema.BGPEventPeerDown, schema.BGPPeerAddress, "127.0.0.23")[0]
	assert.Contains(t, str(down, schema.BGPDownReason), "notification-received code 6(cease) subcode 2(administrative shutdown)")
	code, _ := intAttr(down, schema.BGPNotificationCode)
	assert.EqualValues(t, 6, code)
	assert.Len(t, find(logs, schema.BGPEvent, schema.BGPEventMessage, schema.BGPMessageType, "notification", schema.BGPPeerAddress, "127.0.0.23"), 1)
}

// mrtRecord builds one MRT record.
func mrtRecord(t testing.TB, ts uint32, typ mrt.MRTType, sub mrt.MRTSubTyper, body mrt.Body) []byte {
	t.Helper()
	m, err := mrt.NewMRTMessage(ts, typ, sub, body)
	require.NoError(t, err)
	b, err := m.Serialize()
	require.NoError(t, err)
	return b
}

func mrtUpdate(t testing.TB, ts uint32, peer string, asn uint32, prefix string, length uint8) []byte {
	t.Helper()
	return mrtUpdatePath(t, ts, peer, asn, prefix, length, []uint32{asn, 12076, 65020})
}

func mrtUpdatePath(t testing.TB, ts uint32, peer string, asn uint32, prefix string, length uint8, path []uint32) []byte {
	t.Helper()
	u := bgp.NewBGPUpdateMessage(nil, []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(0),
		bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, path)}),
		bgp.NewPathAttributeNextHop("192.0.2.9"),
	}, []*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(length, prefix)})
	return mrtRecord(t, ts, mrt.BGP4MP, mrt.MESSAGE_AS4, mrt.NewBGP4MPMessage(asn, 65010, 0, peer, "127.0.0.9", true, u))
}

func mrtWithdraw(t testing.TB, ts uint32, peer string, asn uint32, prefix string, length uint8) []byte {
	t.Helper()
	u := bgp.NewBGPUpdateMessage([]*bgp.IPAddrPrefix{bgp.NewIPAddrPrefix(length, prefix)}, nil, nil)
	return mrtRecord(t, ts, mrt.BGP4MP, mrt.MESSAGE_AS4, mrt.NewBGP4MPMessage(asn, 65010, 0, peer, "127.0.0.9", true, u))
}

// TestMRTRestartNoRepeats: with storage, a restarted receiver reads its MRT file again
// silently up to where its events were delivered (the RIB is rebuilt: an overlap that started
// before the restart resolves after it) and emits only what came after.
func TestMRTRestartNoRepeats(t *testing.T) {
	dir, stateDir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "log.mrt")
	const ts = 1700000000
	var b bytes.Buffer
	b.Write(mrtUpdatePath(t, ts, "127.0.0.31", 65031, "10.40.0.0", 16, []uint32{65031, 65020}))
	b.Write(mrtUpdatePath(t, ts, "127.0.0.31", 65031, "10.40.128.0", 17, []uint32{65031, 65030}))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))

	storageID := storagetest.NewStorageID("state")
	run := func() (*consumertest.LogsSink, func()) {
		host := storagetest.NewStorageHost().WithExtension(storageID, storagetest.NewFileBackedStorageExtension("state", stateDir))
		cfg := baseConfig()
		cfg.MRT.Include = []string{filepath.Join(dir, "*.mrt")}
		cfg.MRT.PollInterval = 20 * time.Millisecond
		cfg.Storage = &storageID
		cfg.Analyses.Overlap.Classes = nil // both prefixes are class other: every class
		require.NoError(t, cfg.Validate())
		set := receivertest.NewNopSettings(metadata.Type)
		set.ID = component.NewIDWithName(metadata.Type, "mrt") // stable, as in a collector
		logs := new(consumertest.LogsSink)
		lr, err := NewFactory().CreateLogs(context.Background(), set, cfg, logs)
		require.NoError(t, err)
		require.NoError(t, lr.Start(context.Background(), host))
		var once sync.Once
		return logs, func() { once.Do(func() { require.NoError(t, lr.Shutdown(context.Background())) }) }
	}
	count := func(logs *consumertest.LogsSink, kv ...string) int { return len(find(logs, kv...)) }

	logs1, stop1 := run()
	eventually(t, 10*time.Second, "both routes and the overlap", func() bool {
		return count(logs1, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.40.0.0/16") == 1 &&
			count(logs1, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.40.128.0/17") == 1 &&
			count(logs1, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "start", schema.BGPPrefix, "10.40.128.0/17") == 1
	})
	stop1()

	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.Write(append(mrtWithdraw(t, ts+10, "127.0.0.31", 65031, "10.40.128.0", 17),
		mrtUpdatePath(t, ts+11, "127.0.0.31", 65031, "10.41.0.0", 16, []uint32{65031, 65020})...))
	require.NoError(t, err)
	require.NoError(t, fh.Close())

	logs2, stop2 := run()
	t.Cleanup(stop2)
	eventually(t, 10*time.Second, "the new records, and the overlap resolved by the withdrawal", func() bool {
		return count(logs2, schema.BGPEvent, schema.BGPEventWithdraw, schema.BGPPrefix, "10.40.128.0/17") == 1 &&
			count(logs2, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.41.0.0/16") == 1 &&
			count(logs2, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "resolved", schema.BGPPrefix, "10.40.128.0/17") == 1
	})
	assert.Zero(t, count(logs2, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.40.0.0/16"), "delivered before the restart")
	assert.Zero(t, count(logs2, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, "10.40.128.0/17"), "delivered before the restart")
	assert.Zero(t, count(logs2, schema.BGPEvent, schema.BGPEventOverlap, schema.BGPEventPhase, "start"), "the overlap started before the restart")
}

// TestMRTMalformed feeds a file with bad records between good ones: truncated bodies, a
// length past the limit, an unknown type, garbage; each is counted and reading goes on,
// including records appended later and a record written in two halves.
func TestMRTMalformed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "updates.mrt")
	const ts = 1700000000
	var f bytes.Buffer
	f.Write(mrtUpdate(t, ts, "127.0.0.31", 65031, "10.31.0.0", 16))
	// A BGP4MP message whose BGP message is cut short (lengths agree, content does not).
	bad := mrtUpdate(t, ts, "127.0.0.31", 65031, "10.99.0.0", 16)
	binary.BigEndian.PutUint32(bad[8:12], uint32(len(bad)-mrt.MRT_COMMON_HEADER_LEN-10))
	f.Write(bad[:len(bad)-10])
	// A header with a length far past the limit, then garbage.
	f.Write([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x10, 0x00, 0x04, 0x7f, 0xff, 0xff, 0xff})
	f.Write(bytes.Repeat([]byte{0xee}, 100))
	f.Write(mrtUpdate(t, ts+1, "127.0.0.31", 65031, "10.32.0.0", 16))
	// An unknown record type with a sane length is a framing error too.
	f.Write([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x63, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4})
	f.Write(mrtUpdate(t, ts+2, "127.0.0.31", 65031, "10.33.0.0", 16))
	// An OSPF record is skipped silently.
	f.Write([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 9, 9})
	require.NoError(t, os.WriteFile(path, f.Bytes(), 0o644))

	cfg := baseConfig()
	cfg.MRT.Include = []string{filepath.Join(dir, "*.mrt")}
	cfg.MRT.PollInterval = 20 * time.Millisecond
	tt := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tt.Shutdown(context.Background())) })
	logs, _ := startReceiverWith(t, cfg, metadatatest.NewSettings(tt))

	announced := func(p string) int {
		return len(find(logs, schema.BGPEvent, schema.BGPEventAnnounce, schema.BGPPrefix, p))
	}
	eventually(t, 10*time.Second, "the good records around the bad ones", func() bool {
		return announced("10.31.0.0/16") == 1 && announced("10.32.0.0/16") == 1 && announced("10.33.0.0/16") == 1
	})
	assert.Zero(t, announced("10.99.0.0/16"))

	// A record appended in two writes is read once it is whole.
	next := mrtUpdate(t, ts+3, "127.0.0.31", 65031, "10.34.0.0", 16)
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fh.Write(next[:20])
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond) // several polls see the half record
	_, err = fh.Write(next[20:])
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	eventually(t, 10*time.Second, "the record written in two halves", func() bool { return announced("10.34.0.0/16") == 1 })

	metadatatest.AssertEqualReceiverBgpMalformed(t, tt, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String(schema.BGPSource, "mrt"))},
	}, metricdatatest.IgnoreTimestamp())
}

// FuzzMRTFraming feeds arbitrary bytes to the MRT reader's framing and decoding, whole and
// in two pieces: no panic, never more consumed than given, and every event is well formed.
func FuzzMRTFraming(f *testing.F) {
	up := mrtRecord(f, 1700000000, mrt.BGP4MP, mrt.STATE_CHANGE_AS4,
		mrt.NewBGP4MPStateChange(65031, 65010, 0, "127.0.0.31", "127.0.0.9", true, mrt.OPENCONFIRM, mrt.ESTABLISHED))
	upd := mrtUpdate(f, 1700000001, "127.0.0.31", 65031, "10.31.0.0", 16)
	f.Add(up)
	f.Add(upd)
	f.Add(append(append([]byte(nil), up...), upd...))
	f.Add(upd[:len(upd)-4])
	f.Add([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x10, 0x00, 0x04, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x11, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0, 0})
	f.Add([]byte{0x65, 0x53, 0xf1, 0x00, 0x00, 0x0d, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(e event.Event, _ int) {
			if e == nil || e.Head().Peer.Kind != rib.SourceMRT {
				t.Fatalf("bad event %+v", e)
			}
		}
		for _, cut := range []int{len(data), len(data) / 2} {
			st, resync := bgpmrt.NewState(), false
			var pending []byte
			for _, piece := range [][]byte{data[:cut], data[cut:]} {
				pending = append(pending, piece...)
				n := bgpmrt.Scan(pending, st, &resync, check, func(int, error) {})
				if n < 0 || n > len(pending) {
					t.Fatalf("consumed %d of %d bytes", n, len(pending))
				}
				pending = pending[n:]
				if len(pending) > bgpmrt.MaxRecord+mrt.MRT_COMMON_HEADER_LEN {
					t.Fatalf("%d bytes pending", len(pending))
				}
			}
		}
	})
}
