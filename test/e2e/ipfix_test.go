package e2e

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/vmware/go-ipfix/pkg/entities"
	"github.com/vmware/go-ipfix/pkg/exporter"
	"github.com/vmware/go-ipfix/pkg/registry"
	"k8s.io/klog/v2"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/internal/testutil"
)

func init() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
}

// allRecords returns every log record (resource attributes merged) in the file output.
func allRecords(t *testing.T, dir string) []map[string]any {
	return readLogRecords(t, filepath.Join(dir, "data", "out", "logs.json"), "")
}

// TestIPFIXFromSoftflowd: softflowd replays a capture with known totals (205 flows, 630
// packets, 62,232 bytes) to the collector on config/local.yaml; the records reach the file
// output tagged by the sampling processor, and their sum reaches Prometheus.
func TestIPFIXFromSoftflowd(t *testing.T) {
	root := repoRoot(t)
	sfd := testutil.NeedBinary(t, "softflowd")
	ctl := testutil.NeedBinary(t, "softflowctl")
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml"),
		"--config=yaml:connectors::flowmetrics::interval: 1s",
		"--config=yaml:receivers::ipfix::collection_interval: 1s"}, p.overrides(true)...)
	c := startCollector(t, "ipfix", dir, p, nil, args...)

	pcap := filepath.Join(root, "pkg", "ipfix", "testdata", "softflowd", "traffic.pcap")
	sock := filepath.Join(t.TempDir(), "ctl")
	cmd := exec.Command(sfd, "-d", "-r", pcap, "-n", "127.0.0.1:"+itoa(p.IPFIX), "-v", "10", "-a", "-6",
		"-p", filepath.Join(t.TempDir(), "pid"), "-c", sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// softflowd reading a pcap can block in accept() on its control socket until poked.
	deadline := time.After(60 * time.Second)
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(300 * time.Millisecond):
			_ = exec.Command(ctl, "-c", sock, "statistics").Run()
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatal("softflowd did not finish")
		}
	}

	var bytes, packets int64
	var recs []map[string]any
	eventually(t, 30*time.Second, "205 records in data/out/logs.json", func() bool {
		recs = allRecords(t, dir)
		return len(recs) >= 205
	}, c.out.String)
	bytes, packets = 0, 0
	for _, r := range recs {
		bytes += r[schema.FlowIOBytes].(int64)
		packets += r[schema.FlowIOPackets].(int64)
		if r[schema.FlowType] != "ipfix" || r[schema.FlowDirection] == nil || r[schema.FlowClass] == nil {
			t.Fatalf("record not as the schema says: %v", r)
		}
	}
	if len(recs) != 205 || bytes != 62232 || packets != 630 {
		t.Errorf("%d records, %d bytes, %d packets; want 205, 62232, 630", len(recs), bytes, packets)
	}

	url := "http://127.0.0.1:" + itoa(p.Prometheus) + "/metrics"
	var metrics string
	eventually(t, 30*time.Second, "flow_io_bytes_total = 62232 on the Prometheus endpoint", func() bool {
		metrics = httpGet(url)
		v, ok := promSum(metrics, "flow_io_bytes_total")
		return ok && v == 62232
	}, func() string { return metrics })
	eventually(t, 30*time.Second, "the exporter's health metrics", func() bool {
		metrics = httpGet(url)
		v, ok := promSum(metrics, "ipfix_exporter_records_total")
		return ok && v == 205
	}, func() string { return metrics })
}

// TestIPFIXTemplatesSurviveKill: the collector learns a template, is killed with SIGKILL,
// and decodes the data sent after its restart (templates kept by file_storage).
func TestIPFIXTemplatesSurviveKill(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	p := newPorts(t)
	args := append([]string{"--config=" + filepath.Join(root, "config", "local.yaml")}, p.overrides(true)...)
	c := startCollector(t, "before-kill", dir, p, nil, args...)

	ep, ies := ipfixExporter(t, p.IPFIX, 3, "sourceIPv4Address", "destinationIPv4Address", "destinationTransportPort",
		"protocolIdentifier", "octetDeltaCount", "packetDeltaCount")
	time.Sleep(3 * time.Second) // the receiver saves changed state every second
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.done

	c2 := startCollector(t, "after-kill", dir, p, nil, args...)
	for i := 0; i < 3; i++ {
		vals := []entities.InfoElementWithValue{
			entities.NewIPAddressInfoElement(ies[0], net.IPv4(192, 168, 1, byte(10+i)).To4()),
			entities.NewIPAddressInfoElement(ies[1], net.IPv4(10, 1, 0, 4).To4()),
			entities.NewUnsigned16InfoElement(ies[2], 443),
			entities.NewUnsigned8InfoElement(ies[3], 6),
			entities.NewUnsigned64InfoElement(ies[4], 1000),
			entities.NewUnsigned64InfoElement(ies[5], 10),
		}
		set, _ := entities.MakeDataSet(400, vals)
		if _, err := ep.SendSet(set); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "3 records decoded after the restart", func() bool {
		return len(allRecords(t, dir)) == 3
	}, c2.out.String)
	if _, err := os.Stat(filepath.Join(dir, "data", "state")); err != nil {
		t.Fatal(err)
	}
}

// ipfixExporter opens a go-ipfix exporting process from 127.0.0.1 to the collector's IPFIX
// port in an observation domain and sends template 400 with the named elements; it closes
// with the test.
func ipfixExporter(t *testing.T, port int, domain uint32, elements ...string) (*exporter.ExportingProcess, []*entities.InfoElement) {
	t.Helper()
	registry.LoadRegistry()
	ep, err := exporter.InitExportingProcess(exporter.ExporterInput{CollectorAddress: "127.0.0.1:" + itoa(port), CollectorProtocol: "udp", ObservationDomainID: domain})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ep.CloseConnToCollector)
	var ies []*entities.InfoElement
	for _, n := range elements {
		ie, err := registry.GetInfoElement(n, 0)
		if err != nil {
			t.Fatal(err)
		}
		ies = append(ies, ie)
	}
	tmpl, _ := entities.MakeTemplateSet(400, ies)
	if _, err := ep.SendSet(tmpl); err != nil {
		t.Fatal(err)
	}
	return ep, ies
}
