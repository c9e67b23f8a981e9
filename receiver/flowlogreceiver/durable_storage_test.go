package flowlogreceiver

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
)

// durableStorage is a storage extension for tests that, like file_storage (bbolt), has every
// committed operation in its file when the call returns, so that it survives a SIGKILL.
// storagetest's file-backed extension only writes its file on Close.
type durableStorage struct{ path string }

func (d *durableStorage) Start(context.Context, component.Host) error { return nil }
func (d *durableStorage) Shutdown(context.Context) error              { return nil }

func (d *durableStorage) GetClient(context.Context, component.Kind, component.ID, string) (storage.Client, error) {
	c := &durableClient{path: d.path, m: map[string][]byte{}}
	b, err := os.ReadFile(d.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &c.m); err != nil {
			return nil, err
		}
	}
	return c, nil
}

type durableClient struct {
	mu   sync.Mutex
	path string
	m    map[string][]byte
}

func (c *durableClient) Get(ctx context.Context, key string) ([]byte, error) {
	op := storage.GetOperation(key)
	err := c.Batch(ctx, op)
	return op.Value, err
}

func (c *durableClient) Set(ctx context.Context, key string, value []byte) error {
	return c.Batch(ctx, storage.SetOperation(key, value))
}

func (c *durableClient) Delete(ctx context.Context, key string) error {
	return c.Batch(ctx, storage.DeleteOperation(key))
}

func (c *durableClient) Batch(_ context.Context, ops ...*storage.Operation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = c.m[op.Key]
		case storage.Set:
			c.m[op.Key] = op.Value
			changed = true
		case storage.Delete:
			delete(c.m, op.Key)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	b, err := json.Marshal(c.m)
	if err != nil {
		return err
	}
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Clean(c.path))
}

func (c *durableClient) Close(context.Context) error { return nil }
