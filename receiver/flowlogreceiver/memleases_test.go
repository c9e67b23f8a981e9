package flowlogreceiver

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"sync"

	"github.com/erviz/otelcol-erviz/receiver/flowlogreceiver/internal/coordination"
)

// leaseTable is an in-memory coordination container shared by the replicas of a test: one
// ownership record (holder, checkpoint) per source blob and the set of running replicas.
type leaseTable struct {
	mu      sync.Mutex
	owners  map[string]*memOwner // by source key
	members map[string]bool
}

type memOwner struct {
	holder string
	cp     []byte
}

func newLeaseTable() *leaseTable {
	return &leaseTable{owners: map[string]*memOwner{}, members: map[string]bool{}}
}

// memLeases is one replica's view of a leaseTable: the in-memory fake of the leases
// interface (*coordination.Coordinator on Azure Blob Storage).
type memLeases struct {
	t        *leaseTable
	id       string
	held     map[string]bool
	rejoined bool
}

func (t *leaseTable) replica(id string) *memLeases {
	return &memLeases{t: t, id: id, held: map[string]bool{}, rejoined: true}
}

func (t *leaseTable) holders() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]string{}
	for k, o := range t.owners {
		out[k] = o.holder
	}
	return out
}

func (m *memLeases) Setup(context.Context) ([]string, error) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	m.t.members[m.id] = true
	return nil, nil
}

func (m *memLeases) List(context.Context) (*coordination.State, error) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	st := &coordination.State{Alive: len(m.t.members), Owners: map[string]coordination.Owner{}}
	for k, o := range m.t.owners {
		st.Owners[m.OwnerName(k)] = coordination.Owner{ETag: "x", Leased: o.holder != "", Checkpoint: o.cp}
	}
	return st, nil
}

func (m *memLeases) OwnerName(key string) string { return "blobs/" + key }

func (m *memLeases) Holds(key string) (held, lost bool) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if !m.held[key] {
		return false, false
	}
	o := m.t.owners[key]
	return true, o == nil || o.holder != m.id
}

func (m *memLeases) CanRead(key string) bool {
	held, lost := m.Holds(key)
	return held && !lost
}

func (m *memLeases) Acquire(_ context.Context, key string, exists bool) ([]byte, bool, error) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	o := m.t.owners[key]
	if o == nil {
		o = &memOwner{}
		m.t.owners[key] = o
	}
	if o.holder != "" && o.holder != m.id {
		return nil, false, nil
	}
	o.holder = m.id
	m.held[key] = true
	return o.cp, true, nil
}

func (m *memLeases) Commit(_ context.Context, key string, cp []byte) error {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if o := m.t.owners[key]; m.held[key] && o != nil && o.holder == m.id {
		o.cp = cp
		return nil
	}
	return coordination.ErrLeaseLost
}

func (m *memLeases) Release(_ context.Context, key string) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if o := m.t.owners[key]; m.held[key] && o != nil && o.holder == m.id {
		o.holder = ""
	}
	delete(m.held, key)
}

func (m *memLeases) Drop(_ context.Context, key string) {
	m.t.mu.Lock()
	defer m.t.mu.Unlock()
	if o := m.t.owners[key]; m.held[key] && o != nil && o.holder == m.id {
		delete(m.t.owners, key)
	}
	delete(m.held, key)
}

func (m *memLeases) Prune(ctx context.Context, _ *coordination.State, listed []string) []string {
	in := map[string]bool{}
	for _, k := range listed {
		in[k] = true
	}
	var dropped []string
	for k := range m.held {
		if !in[k] {
			dropped = append(dropped, k)
		}
	}
	sort.Strings(dropped)
	for _, k := range dropped {
		m.Drop(ctx, k)
	}
	return dropped
}

func (m *memLeases) TakeRejoined() bool {
	r := m.rejoined
	m.rejoined = false
	return r
}

func (m *memLeases) Score(key string) uint64 {
	h := sha256.Sum256([]byte(m.id + "\x00" + key))
	return binary.BigEndian.Uint64(h[:8])
}

func (m *memLeases) Shutdown(ctx context.Context) {
	var keys []string
	for k := range m.held {
		keys = append(keys, k)
	}
	for _, k := range keys {
		m.Release(ctx, k)
	}
	m.t.mu.Lock()
	delete(m.t.members, m.id)
	m.t.mu.Unlock()
}
