package flowlogreceiver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.uber.org/zap/zaptest"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// TestLeasesContract runs the same checks on the in-memory lease table of the unit tests and
// on the coordination container in Azurite, so that the fake behaves as the real thing does.
func TestLeasesContract(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		table := newLeaseTable()
		checkLeasesContract(t, table.replica("a"), table.replica("b"))
	})
	t.Run("azurite", func(t *testing.T) {
		az := startAzurite(t)
		tb, err := metadata.NewTelemetryBuilder(componenttest.NewNopTelemetrySettings())
		require.NoError(t, err)
		defer tb.Shutdown()
		replica := func(id string) leases {
			return coordination.New(coordination.Settings{
				Container:     az.client.ServiceClient().NewContainerClient("contract"),
				Scope:         coordination.Scope([]string{ContainerVNet}, ""),
				ReplicaID:     id,
				Self:          "flowlog",
				LeaseDuration: 15 * time.Second,
				Logger:        zaptest.NewLogger(t),
				Telemetry:     tb,
			})
		}
		checkLeasesContract(t, replica("a"), replica("b"))
	})
}

func checkLeasesContract(t *testing.T, a, b leases) {
	ctx := context.Background()
	const key = ContainerVNet + "/y=2025/m=06/d=02/h=09/m=00/macAddress=000D3A2B1001/PT1H.json"
	for _, l := range []leases{a, b} {
		forgotten, err := l.Setup(ctx)
		require.NoError(t, err)
		assert.Empty(t, forgotten)
	}
	st, err := a.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Alive, "two replicas running")
	assert.Empty(t, st.Owners)

	cp, ok, err := a.Acquire(ctx, key, false)
	require.NoError(t, err)
	require.True(t, ok, "a free blob is taken")
	assert.Nil(t, cp, "no checkpoint yet")
	_, ok, err = b.Acquire(ctx, key, true)
	require.NoError(t, err)
	assert.False(t, ok, "a blob held by another replica is not taken")
	held, lost := a.Holds(key)
	assert.True(t, held && !lost)
	assert.True(t, a.CanRead(key))
	held, _ = b.Holds(key)
	assert.False(t, held)
	assert.False(t, b.CanRead(key))

	want := encodeCheckpoint(checkpoint{Offset: 4096, BlockID: "YmxvY2s="})
	require.NoError(t, a.Commit(ctx, key, want))
	assert.ErrorIs(t, b.Commit(ctx, key, []byte("x")), coordination.ErrLeaseLost, "only the holder moves a checkpoint")
	st, err = b.List(ctx)
	require.NoError(t, err)
	owner, ok := st.Owners[b.OwnerName(key)]
	require.True(t, ok, "the ownership record is listed")
	assert.True(t, owner.Leased)
	assert.Equal(t, want, owner.Checkpoint)

	a.Release(ctx, key)
	held, _ = a.Holds(key)
	assert.False(t, held)
	cp, ok, err = b.Acquire(ctx, key, true)
	require.NoError(t, err)
	require.True(t, ok, "a released blob is taken by another replica")
	assert.Equal(t, want, cp, "with its checkpoint")

	st, err = b.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{key}, b.Prune(ctx, st, nil), "a held blob no longer listed is dropped")
	st, err = a.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Owners, "with its ownership record")

	b.Shutdown(ctx)
	a.Shutdown(ctx)
}
