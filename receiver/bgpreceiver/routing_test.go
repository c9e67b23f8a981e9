package bgpreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/internal/testutil"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/metadata"
)

// The receiver publishes its RIB under its component ID when it is created (before it
// starts), converges once its MRT files were read, and withdraws the RIB when it shuts down.
func TestRIBPublishedAndConvergesAfterMRT(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "demo", "data", "bgp.mrt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.mrt"), raw, 0o644))
	cfg := createDefaultConfig()
	cfg.MRT.Include = []string{filepath.Join(dir, "*.mrt")}
	cfg.MRT.PollInterval = 50 * time.Millisecond

	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("bgp", "published")
	rx, err := NewFactory().CreateLogs(context.Background(), set, cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	src, ok := ribregistry.Lookup(set.ID)
	require.True(t, ok, "published at creation")
	assert.False(t, src.Converged())
	_, started := src.Started()
	assert.False(t, started)

	require.NoError(t, rx.Start(context.Background(), componenttest.NewNopHost()))
	eventually(t, 20*time.Second, "convergence after the MRT file", src.Converged)
	// The demo's log ends with 10.1.0.0/16, 10.2.0.0/16, 10.1.128.0/17 and 192.168.0.0/16.
	assert.Equal(t, 4, src.RIB.Stats().Prefixes())
	_, started = src.Started()
	assert.True(t, started)

	require.NoError(t, rx.Shutdown(context.Background()))
	_, ok = ribregistry.Lookup(set.ID)
	assert.False(t, ok, "withdrawn at shutdown")
}
