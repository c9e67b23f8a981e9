// Package mrt is the bgp receiver's MRT source (RFC 6396): it follows the files (BIRD's
// message logs, table dumps), emits their records' events (internal/event) with their
// positions, and owns the checkpoints, committed once a batch holding them was delivered.
package mrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// checkpoint says how far a file was delivered: the end of the last record whose events
// the next consumer accepted, and the file's identity (device and inode) at the time.
type checkpoint struct {
	Offset int64  `json:"offset"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
}

const storageKey = "gobgpmrt.checkpoints"

func loadCheckpoints(ctx context.Context, c storage.Client) (map[string]checkpoint, error) {
	b, err := c.Get(ctx, storageKey)
	if err != nil || b == nil {
		return map[string]checkpoint{}, err
	}
	m := map[string]checkpoint{}
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]checkpoint{}, fmt.Errorf("mrt checkpoints: %w", err)
	}
	return m, nil
}

// handled notes the position after an event the RIB goroutine handled (RIB goroutine).
func (m *Reader) Handled(mk *event.Mark) {
	m.pending[mk.Path] = checkpoint{Offset: mk.Offset, Dev: mk.Dev, Ino: mk.Ino}
}

// commit writes the positions handled since the last delivered batch, once the next
// consumer accepted it (RIB goroutine).
func (m *Reader) Commit() {
	if m.client == nil || len(m.pending) == 0 {
		return
	}
	for p, c := range m.pending {
		m.delivered[p] = c
	}
	clear(m.pending)
	b, err := json.Marshal(m.delivered)
	if err == nil {
		err = m.client.Set(context.Background(), storageKey, b)
	}
	if err != nil {
		m.logger.Warn("mrt: cannot write the checkpoints; after a restart some events may repeat", zap.Error(err))
	}
}

// file is one followed file: where reading stopped, the bytes of a record not yet
// whole, and up to where its records were delivered before a restart (replayed silently).
type file struct {
	path     string
	info     os.FileInfo
	dev, ino uint64
	offset   int64
	emitFrom int64
	pending  []byte
	resync   bool
	state    *State
}

// Reader follows the files matching mrt.include: each is read from its start and then
// as it grows (BIRD's `mrtdump` message logs, or table dumps). A file that shrinks or is
// replaced is read again from its start.
type Reader struct {
	logger    *zap.Logger
	emit      func(event.Event)
	malformed func()
	loaded    func()
	cfg       Config
	ckpts     map[string]checkpoint // delivered before the start (read-only)
	// The checkpoints (with storage), on the RIB goroutine: the positions delivered, and
	// those handled since the last delivered batch.
	client    storage.Client
	delivered map[string]checkpoint
	pending   map[string]checkpoint
	files     map[string]*file
	done      chan struct{}
	wg        sync.WaitGroup
	buf       []byte
}

// Start starts following the files; with a storage client, the checkpoints it holds say
// what was delivered before.
// Config is what the reader follows (the receiver's mrt section).
type Config struct {
	// Include lists file globs; files are read from the start and followed as they grow.
	Include []string
	// PollInterval is how often the globs and file sizes are checked.
	PollInterval time.Duration
}

// Hooks are the reader's calls to its user: Emit hands over an event (it may block, which
// pauses the reader), Malformed counts a malformed record, Loaded says the first pass over
// the files was emitted (the initial load).
type Hooks struct {
	Emit      func(event.Event)
	Malformed func()
	Loaded    func()
}

// Start starts following the files; with a storage client, the checkpoints it holds say
// what was delivered before (read again silently: it rebuilds the RIB).
func Start(ctx context.Context, cfg Config, logger *zap.Logger, client storage.Client, hooks Hooks) (*Reader, error) {
	for _, g := range cfg.Include {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("mrt: bad glob %q: %w", g, err)
		}
	}
	ckpts := map[string]checkpoint{}
	if client != nil {
		var err error
		if ckpts, err = loadCheckpoints(ctx, client); err != nil {
			logger.Warn("cannot read the MRT checkpoints; the files are read as new", zap.Error(err))
			ckpts = map[string]checkpoint{}
		}
	}
	m := &Reader{logger: logger, emit: hooks.Emit, malformed: hooks.Malformed, loaded: hooks.Loaded, cfg: cfg, ckpts: ckpts, client: client, delivered: maps.Clone(ckpts), pending: map[string]checkpoint{},
		files: map[string]*file{}, done: make(chan struct{}), buf: make([]byte, readChunk)}
	m.wg.Add(1)
	go m.run()
	return m, nil
}

func (m *Reader) run() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.PollInterval)
	defer tick.Stop()
	first := true
	for {
		m.poll()
		if first && !m.stopped() {
			first = false // the first pass over the files is queued: the initial load
			m.loaded()
		}
		select {
		case <-tick.C:
		case <-m.done:
			return
		}
	}
}

func (m *Reader) stopped() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// poll reads what is new in every matching file, in name order.
func (m *Reader) poll() {
	seen := map[string]bool{}
	var paths []string
	for _, g := range m.cfg.Include {
		matches, _ := filepath.Glob(g)
		for _, p := range matches {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	sort.Strings(paths)
	for p := range m.files {
		if !seen[p] {
			delete(m.files, p)
		}
	}
	for _, p := range paths {
		if m.stopped() {
			return
		}
		f := m.files[p]
		if f == nil {
			f = &file{path: p, state: NewState()}
			m.files[p] = f
		}
		if err := m.read(f); err != nil {
			m.logger.Warn("mrt: cannot read file", zap.String("path", p), zap.Error(err))
		}
	}
}

// read consumes the new bytes of f.
func (m *Reader) read(f *file) error {
	fh, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	if f.info != nil && (!os.SameFile(f.info, info) || info.Size() < f.offset) {
		m.logger.Info("mrt: file replaced or truncated, reading it from the start", zap.String("path", f.path))
		f.offset, f.emitFrom, f.pending, f.resync = 0, 0, f.pending[:0], false
		up := f.state.up
		f.state = NewState()
		f.state.up = up // the sessions go on in the new file
	}
	if f.info == nil {
		// First look at the file: if it is the one a checkpoint names, what was delivered
		// before the restart is read again silently (it rebuilds the RIB).
		if c, ok := m.ckpts[f.path]; ok {
			dev, ino := fileID(info)
			if dev == c.Dev && ino == c.Ino && info.Size() >= c.Offset {
				f.emitFrom = c.Offset
			}
		}
	}
	f.info = info
	f.dev, f.ino = fileID(info)
	if info.Size() == f.offset {
		return nil
	}
	if _, err := fh.Seek(f.offset, io.SeekStart); err != nil {
		return err
	}
	for !m.stopped() {
		n, err := fh.Read(m.buf)
		if n > 0 {
			f.offset += int64(n)
			f.pending = append(f.pending, m.buf[:n]...)
			f.pending = m.consume(f, f.pending)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// consume handles every whole record of buf and returns what is left (the start of a record
// not yet whole), moved to the front of buf.
func (m *Reader) consume(f *file, buf []byte) []byte {
	base := f.offset - int64(len(buf)) // file offset of buf[0]
	n := Scan(buf, f.state, &f.resync,
		func(e event.Event, end int) {
			off := base + int64(end)
			e.Head().Mark = &event.Mark{Path: f.path, Offset: off, Dev: f.dev, Ino: f.ino, Replay: off <= f.emitFrom}
			m.emit(e)
		},
		func(off int, err error) {
			m.malformed()
			if errors.Is(err, errFraming) {
				m.logger.Warn("mrt: bad record header, looking for the next one", zap.String("path", f.path),
					zap.Int64("offset", base+int64(off)), zap.Error(err))
				return
			}
			m.logger.Debug("mrt: malformed record skipped", zap.String("path", f.path), zap.Int64("offset", base+int64(off)), zap.Error(err))
		})
	return append(buf[:0], buf[n:]...)
}

// Stop stops following the files and waits for the reader to end.
func (m *Reader) Stop() {
	close(m.done)
	m.wg.Wait()
}
