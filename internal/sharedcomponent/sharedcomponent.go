// Package sharedcomponent lets one receiver instance serve several pipelines of different
// signals (for example a flow receiver feeding a logs pipeline with records and a metrics
// pipeline with exporter health). The collector creates one component per signal; the
// factory asks this map for the instance of a given configuration, so both signals share
// one listener, one decoder state and one lifecycle. It follows the pattern the collector
// core keeps internal.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map holds the shared instances, keyed by whatever identifies a configuration
// (usually the *Config pointer or the component ID).
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Component[V]
}

// NewMap returns an empty map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: map[K]*Component[V]{}}
}

// LoadOrStore returns the instance for key, creating it with create on first use.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{component: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.components[key] == c {
			delete(m.components, key)
		}
	}
	m.components[key] = c
	return c, nil
}

// Len is the number of live instances (for tests).
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.components)
}

// Component wraps a shared instance: Start and Shutdown run once however many
// pipelines call them; after Shutdown the instance leaves the map, so a later
// configuration reload creates a fresh one.
type Component[V component.Component] struct {
	component V
	startOnce sync.Once
	stopOnce  sync.Once
	startErr  error
	remove    func()
}

// Unwrap returns the shared instance.
func (c *Component[V]) Unwrap() V { return c.component }

// Start starts the instance the first time it is called.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.startOnce.Do(func() { c.startErr = c.component.Start(ctx, host) })
	return c.startErr
}

// Shutdown stops the instance the first time it is called and forgets it.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	var err error
	c.stopOnce.Do(func() {
		err = c.component.Shutdown(ctx)
		c.remove()
	})
	return err
}
