package flowlogreceiver

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/erviz/otelcol-erviz/internal/testutil"
)

type azurite struct {
	endpoint string // http://127.0.0.1:port/devstoreaccount1
	connStr  string
	client   *azblob.Client
}

// startAzurite runs the Azurite blob emulator (internal/testutil) and creates the two
// Network Watcher containers.
func startAzurite(t *testing.T) *azurite {
	t.Helper()
	a := &azurite{}
	a.endpoint, a.connStr = testutil.StartAzurite(t)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var err error
	a.client, err = azblob.NewClientFromConnectionString(a.connStr, &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: &http.Client{Transport: tr}}})
	require.NoError(t, err)
	for _, c := range []string{ContainerVNet, ContainerNSG} {
		_, err := a.client.CreateContainer(context.Background(), c, nil)
		require.NoError(t, err)
	}
	return a
}

// nwBlob writes a blob the way Network Watcher does: a 12-byte head block, one block per
// minute inserted before the 2-byte tail block, the block list committed again each time.
type nwBlob struct {
	t    *testing.T
	bb   *blockblob.Client
	ids  []string // data block IDs
	n    int
	data []byte // what the data blocks hold, for the reference
}

func blockID(name string, i int) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-40s%08d", name, i)))
}

func (a *azurite) newBlob(t *testing.T, containerName, name string) *nwBlob {
	b := &nwBlob{t: t, bb: a.client.ServiceClient().NewContainerClient(containerName).NewBlockBlobClient(name)}
	ctx := context.Background()
	_, err := b.bb.StageBlock(ctx, blockID("head", 0), streaming.NopCloser(bytes.NewReader([]byte(`{"records":[`))), nil)
	require.NoError(t, err)
	_, err = b.bb.StageBlock(ctx, blockID("tail", 0), streaming.NopCloser(bytes.NewReader([]byte(`]}`))), nil)
	require.NoError(t, err)
	b.commit()
	return b
}

func (b *nwBlob) commit() {
	ids := append([]string{blockID("head", 0)}, b.ids...)
	ids = append(ids, blockID("tail", 0))
	_, err := b.bb.CommitBlockList(context.Background(), ids, nil)
	require.NoError(b.t, err)
}

// add inserts one block holding the given records before the tail.
func (b *nwBlob) add(records ...string) {
	block := strings.Join(records, ",")
	if b.n > 0 {
		block = "," + block
	}
	b.addRaw(block)
}

// addRaw inserts a block with exactly these bytes.
func (b *nwBlob) addRaw(block string) {
	id := blockID("data", b.n)
	b.n++
	_, err := b.bb.StageBlock(context.Background(), id, streaming.NopCloser(bytes.NewReader([]byte(block))), nil)
	require.NoError(b.t, err)
	b.ids = append(b.ids, id)
	b.data = append(b.data, block...)
	b.commit()
}

// doc is the blob's whole content as the writer made it.
func (b *nwBlob) doc() []byte {
	return []byte(`{"records":[` + string(b.data) + `]}`)
}

func (b *nwBlob) etag() string {
	p, err := b.bb.GetProperties(context.Background(), nil)
	require.NoError(b.t, err)
	return string(*p.ETag)
}

func blobConfig(a *azurite) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.AzureBlob.ConnectionString = configopaque.String(a.connStr)
	cfg.PollInterval = 150 * time.Millisecond
	return cfg
}
