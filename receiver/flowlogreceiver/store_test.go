package flowlogreceiver

import (
	"context"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/storagetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/metadata"
)

// TestLocalStoreIndex: the index lists exactly the blobs with a checkpoint, also after one
// is dropped, and a new store loads what was written.
func TestLocalStoreIndex(t *testing.T) {
	ctx := context.Background()
	client := storagetest.NewInMemoryClient(component.KindReceiver, component.NewID(metadata.Type), "")
	r := &flowlogReceiver{blobs: map[string]*blobState{}, stats: newStats(), logger: zap.NewNop()}
	r.store = &localStore{client: client, logger: r.logger, keys: r.checkpointKeys}
	require.NoError(t, r.save(ctx, "c/a", checkpoint{Offset: 10}))
	require.NoError(t, r.save(ctx, "c/b", checkpoint{Offset: 20, AtEnd: true, ETag: "e"}))
	require.NoError(t, r.save(ctx, "c/a", checkpoint{Offset: 30}))
	r.forget(ctx, "c/b", "test")

	idx, err := client.Get(ctx, storageIndexKey)
	require.NoError(t, err)
	keys, err := decodeIndex(idx)
	require.NoError(t, err)
	assert.Equal(t, []string{"c/a"}, keys)
	v, err := client.Get(ctx, storageCPPrefix+"c/b")
	require.NoError(t, err)
	assert.Nil(t, v, "the dropped checkpoint is deleted")

	loaded, err := (&localStore{logger: zap.NewNop()}).load(ctx, client)
	require.NoError(t, err)
	assert.Equal(t, map[string]checkpoint{"c/a": {Offset: 30}}, loaded)
}
