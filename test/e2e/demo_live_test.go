package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/erviz/otelcol-erviz/internal/report"
	"github.com/erviz/otelcol-erviz/internal/testutil"
)

// TestDemoLivePeers runs the demo's pipeline (config/demo.yaml) with real peers instead of the
// bundled files: two softflowd exporters reading the demo traffic as the primary and
// secondary edge routers, the sample flow logs in the Azurite storage emulator written the way
// Network Watcher writes them, and two BIRD routers the collector peers with (a Route
// Server-like AS 65515 and a VPN NVA whose backup path goes away and comes back). The report
// must give the same flow numbers as the bundled demo, and the routing conditions of the
// scenario.
func TestDemoLivePeers(t *testing.T) {
	collectorBin(t)
	erviz := need(t, "ERVIZ_BIN", "the erviz command")
	softflowd := testutil.NeedBinary(t, "softflowd")
	softflowctl := testutil.NeedBinary(t, "softflowctl")
	python := testutil.NeedBinary(t, "python3")
	root := repoRoot(t)
	dir := t.TempDir()

	// Flow logs: Network Watcher's containers in Azurite; the blobs of the same traffic land
	// there after the edge routers exported it (below), as flow logs lag the traffic.
	_, connStr := testutil.StartAzurite(t)
	createContainers(t, connStr, "insights-logs-flowlogflowevent", "insights-logs-networksecuritygroupflowevent")

	// BGP: Route Server-like R and the VPN NVA V, passive, each on its own address.
	rp, vp := testutil.FreeTCPPort(t, "127.0.0.41"), testutil.FreeTCPPort(t, "127.0.0.42")
	session := func(local string, port int, asn uint32, nextHop, export string) string {
		return fmt.Sprintf(`protocol bgp collector {
  local %s port %d as %d;
  neighbor 127.0.0.1 as 65010;
  passive on;
  multihop;
  hold time 30;
  connect delay time 1;
  error wait time 1,2;
  ipv4 { import none; next hop address %s; export filter { %s accept; }; };
}
`, local, port, asn, nextHop, export)
	}
	testutil.StartBird(t, "127.0.0.41", `protocol static vnets { ipv4;
  route 10.1.0.0/16 blackhole; route 10.2.0.0/16 blackhole;
  route 192.168.0.0/16 blackhole; route 10.1.128.0/17 blackhole;
}
`+session("127.0.0.41", rp, 65515, "10.0.0.4", `
    if net = 192.168.0.0/16 then { bgp_path.prepend(65001); bgp_path.prepend(12076); }
    if net = 10.1.128.0/17 then { bgp_path.prepend(65002); bgp_path.prepend(12076); }`))
	v := testutil.StartBird(t, "127.0.0.42", "protocol static backup { ipv4; route 192.168.0.0/16 blackhole; }\n"+
		session("127.0.0.42", vp, 65050, "10.0.2.4", "bgp_path.prepend(65001);"))

	p := newPorts(t)
	args := []string{"--config=" + filepath.Join(root, "config", "demo.yaml"),
		fmt.Sprintf("--config=yaml:extensions::health_check::endpoint: 127.0.0.1:%d", p.Health),
		fmt.Sprintf("--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: %d}}}}]", p.Telemetry),
		fmt.Sprintf("--config=yaml:exporters::prometheus::endpoint: 127.0.0.1:%d", p.Prometheus),
		fmt.Sprintf("--config=yaml:receivers::ipfix::endpoint: 127.0.0.1:%d", p.IPFIX),
		`--config=yaml:receivers::flowlog::directory: ""`,
		"--config=yaml:receivers::flowlog::azure_blob::connection_string: " + connStr,
		"--config=yaml:receivers::flowlog::poll_interval: 500ms",
		"--config=yaml:receivers::bgp::mrt::include: []",
		"--config=yaml:receivers::bgp::asn: 65010",
		"--config=yaml:receivers::bgp::router_id: 10.0.1.4",
		fmt.Sprintf("--config=yaml:receivers::bgp::peers: ["+
			"{address: 127.0.0.41, port: %d, asn: 65515, name: ars-0, local_address: 127.0.0.1, connect_retry: 1s},"+
			"{address: 127.0.0.42, port: %d, asn: 65050, name: vpn-nva, local_address: 127.0.0.1, connect_retry: 1s}]", rp, vp),
	}
	c := startCollector(t, "demo-live", dir, p, []string{"DEMO_DIR=" + dir}, args...)
	logs := filepath.Join(dir, "out", "logs.json")

	// IPFIX: softflowd reads each edge's traffic and exports it; on loopback its datagrams
	// leave from 127.0.0.1, so a relay sends each edge's datagrams on from the edge router's
	// own address (127.0.0.11, 127.0.0.12), as they would arrive from two routers.
	tmp := t.TempDir()
	gen := exec.Command(python, filepath.Join(root, "demo", "gen", "traffic.py"))
	gen.Dir = tmp
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("traffic.py: %v\n%s", err, out)
	}
	for i, edge := range []string{"primary", "secondary"} {
		relay := udpRelay(t, fmt.Sprintf("127.0.0.1%d", i+1), p.IPFIX)
		runSoftflowd(t, softflowd, softflowctl, filepath.Join(tmp, edge+".pcap"), relay, tmp)
	}

	flowLogs := filepath.Join(tmp, "flowlogs") // written by traffic.py from the same packets
	_, tuples := flowLogTruth(t, flowLogs)
	current := func() report.Report {
		b := report.NewBuilder(100)
		if f, err := os.Open(logs); err == nil {
			_ = b.ReadJSONLines(f)
			f.Close()
		}
		return b.Report()
	}
	var now report.Report
	diag := func() string {
		return fmt.Sprintf("%d flow records, %d BGP events, conditions %+v\n%s", now.FlowRecords, now.BGPEvents, now.Conditions, c.out)
	}
	overlaps := func(r report.Report) int {
		n := 0
		for _, cd := range r.Conditions {
			if cd.Kind == "overlap" && !cd.Resolved {
				n++
			}
		}
		return n
	}
	lost := func(r report.Report, resolved bool) int {
		n := 0
		for _, cd := range r.Conditions {
			if cd.Kind == "redundancy.lost" && cd.Prefix == "192.168.0.0/16" && cd.Resolved == resolved {
				n++
			}
		}
		return n
	}
	eventually(t, 60*time.Second, "the edge routers' IPFIX records", func() bool { now = current(); return now.FlowRecords == 12 }, diag)
	uploadNetworkWatcher(t, connStr, flowLogs)
	eventually(t, 90*time.Second, "every flow record, both sessions and the overlaps", func() bool {
		now = current()
		return now.FlowRecords == 12+tuples && now.Prefixes["vpn"] == 1 && now.Prefixes["expressroute"] == 2 && overlaps(now) == 2
	}, diag)

	// The VPN NVA's backup path goes away, then comes back.
	v.Ctl("disable", "backup")
	eventually(t, 30*time.Second, "lost redundancy of 192.168.0.0/16", func() bool { now = current(); return lost(now, false) == 1 }, diag)
	v.Ctl("enable", "backup")
	eventually(t, 30*time.Second, "redundancy of 192.168.0.0/16 regained", func() bool { now = current(); return lost(now, true) == 1 }, diag)

	if err := c.stop(); err != nil {
		t.Fatalf("collector stop: %v\n%s", err, c.out)
	}
	r := readReport(t, erviz, logs)
	checkFlowReport(t, r, root, flowLogs)
	if r.FlowRecords != 12+tuples {
		t.Errorf("%d flow records, want %d IPFIX records and %d flow-log tuples, each once", r.FlowRecords, 12, tuples)
	}
	want := map[string]int{"azure": 2, "expressroute": 2, "vpn": 1}
	for k, n := range want {
		if r.Prefixes[k] != n {
			t.Errorf("prefixes by class: %v, want %v", r.Prefixes, want)
			break
		}
	}
	if overlaps(r) != 2 || lost(r, true) != 1 || lost(r, false) != 0 {
		t.Errorf("conditions: %+v", r.Conditions)
	}
	// Both sessions came up once; stopping the collector is not a routing event.
	counts := map[string]int{}
	for _, b := range r.BGPOverTime {
		for k, n := range b.Counts {
			counts[k] += n
		}
	}
	if counts["peer_up"] != 2 || counts["peer_down"] != 0 || counts["withdraw"] != 1 {
		t.Errorf("BGP events: %v", counts)
	}
	for _, cd := range r.Conditions {
		if cd.Kind == "redundancy.lost" && cd.Resolved && cd.Duration <= 0 {
			t.Errorf("resolved lost redundancy without a duration: %+v", cd)
		}
	}
}

// createContainers creates the named containers in the storage account of connStr.
func createContainers(t *testing.T, connStr string, names ...string) {
	t.Helper()
	client, err := azblob.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := client.CreateContainer(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// udpRelay listens on 127.0.0.1 and sends every datagram on to port on 127.0.0.1 from the
// address from; it returns the address to send to.
func udpRelay(t *testing.T, from string, port int) string {
	t.Helper()
	in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); out.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			_, _ = out.Write(buf[:n])
		}
	}()
	return in.LocalAddr().String()
}

// runSoftflowd exports a capture with softflowd 1.1.0 to dest and waits until it is done.
// softflowd reading a file can block on its control socket before reading a packet: it is
// poked with softflowctl until it exits.
func runSoftflowd(t *testing.T, softflowd, softflowctl, pcap, dest, dir string, extra ...string) {
	t.Helper()
	ctl := filepath.Join(dir, "sfd-"+strings.ReplaceAll(dest, ":", "-")+".ctl")
	cmd := exec.Command(softflowd, append([]string{"-d", "-r", pcap, "-n", dest, "-v", "10", "-a",
		"-p", ctl + ".pid", "-c", ctl}, extra...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for i := 0; i < 60; i++ {
		select {
		case <-done:
			return
		case <-time.After(500 * time.Millisecond):
			_ = exec.Command(softflowctl, "-c", ctl, "statistics").Run()
		}
	}
	_ = cmd.Process.Kill()
	<-done
	t.Fatalf("softflowd did not finish exporting %s:\n%s", pcap, out.String())
}

// uploadNetworkWatcher writes every PT1H.json under dir (the Network Watcher layout, first
// level = container) to the account as Network Watcher does: a 12-byte head block, one block
// per record (a leading comma after the first) inserted before the 2-byte tail, the block
// list committed after each.
func uploadNetworkWatcher(t *testing.T, connStr, dir string) {
	t.Helper()
	client, err := azblob.NewClientFromConnectionString(connStr, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	containers := map[string]bool{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "PT1H.json" {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		container, name, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if !containers[container] {
			if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
				return err
			}
			containers[container] = true
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		bb := client.ServiceClient().NewContainerClient(container).NewBlockBlobClient(name)
		stage := func(id, data string) error {
			_, err := bb.StageBlock(ctx, id, streaming.NopCloser(strings.NewReader(data)), nil)
			return err
		}
		head, tail := blockID("head", 0), blockID("tail", 0)
		if err := stage(head, `{"records":[`); err != nil {
			return err
		}
		if err := stage(tail, `]}`); err != nil {
			return err
		}
		ids := []string{head}
		for i, rec := range doc.Records {
			data := string(rec)
			if i > 0 {
				data = "," + data
			}
			id := blockID("data", i)
			if err := stage(id, data); err != nil {
				return err
			}
			ids = append(ids, id)
			if _, err := bb.CommitBlockList(ctx, append(append([]string(nil), ids...), tail), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(containers) == 0 {
		t.Fatalf("uploading the sample flow logs: %v (%d containers)", err, len(containers))
	}
}

// blockID is a block ID of fixed length (every ID of a blob must have the same length).
func blockID(kind string, n int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-5s%08d", kind, n)))
}
