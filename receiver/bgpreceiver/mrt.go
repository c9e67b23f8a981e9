package bgpreceiver

// The MRT source: it follows the files, emits their records' events with their positions,
// and owns the checkpoints, committed once a batch holding them was delivered.

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

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// mrtCheckpoint says how far a file was delivered: the end of the last record whose events
// the next consumer accepted, and the file's identity (device and inode) at the time.
type mrtCheckpoint struct {
	Offset int64  `json:"offset"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
}

const mrtStorageKey = "mrt.checkpoints"

func loadMRTCheckpoints(ctx context.Context, c storage.Client) (map[string]mrtCheckpoint, error) {
	b, err := c.Get(ctx, mrtStorageKey)
	if err != nil || b == nil {
		return map[string]mrtCheckpoint{}, err
	}
	m := map[string]mrtCheckpoint{}
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]mrtCheckpoint{}, fmt.Errorf("mrt checkpoints: %w", err)
	}
	return m, nil
}

// handled notes the position after an event the RIB goroutine handled (RIB goroutine).
func (m *mrtReader) handled(mk *event.Mark) {
	m.pending[mk.Path] = mrtCheckpoint{Offset: mk.Offset, Dev: mk.Dev, Ino: mk.Ino}
}

// commit writes the positions handled since the last delivered batch, once the next
// consumer accepted it (RIB goroutine).
func (m *mrtReader) commit() {
	if m.client == nil || len(m.pending) == 0 {
		return
	}
	for p, c := range m.pending {
		m.delivered[p] = c
	}
	clear(m.pending)
	b, err := json.Marshal(m.delivered)
	if err == nil {
		err = m.client.Set(context.Background(), mrtStorageKey, b)
	}
	if err != nil {
		m.r.logger.Warn("mrt: cannot write the checkpoints; after a restart some events may repeat", zap.Error(err))
	}
}

// mrtFile is one followed file: where reading stopped, the bytes of a record not yet
// whole, and up to where its records were delivered before a restart (replayed silently).
type mrtFile struct {
	path     string
	info     os.FileInfo
	dev, ino uint64
	offset   int64
	emitFrom int64
	pending  []byte
	resync   bool
	state    *mrtState
}

// mrtReader follows the files matching mrt.include: each is read from its start and then
// as it grows (BIRD's `mrtdump` message logs, or table dumps). A file that shrinks or is
// replaced is read again from its start.
type mrtReader struct {
	r     *bgpReceiver
	cfg   MRTConfig
	ckpts map[string]mrtCheckpoint // delivered before the start (read-only)
	// The checkpoints (with storage), on the RIB goroutine: the positions delivered, and
	// those handled since the last delivered batch.
	client    storage.Client
	delivered map[string]mrtCheckpoint
	pending   map[string]mrtCheckpoint
	files     map[string]*mrtFile
	done      chan struct{}
	wg        sync.WaitGroup
	buf       []byte
}

// startMRT starts following the files; with a storage client, the checkpoints it holds say
// what was delivered before.
func startMRT(ctx context.Context, r *bgpReceiver, cfg MRTConfig, client storage.Client) (*mrtReader, error) {
	for _, g := range cfg.Include {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("mrt: bad glob %q: %w", g, err)
		}
	}
	ckpts := map[string]mrtCheckpoint{}
	if client != nil {
		var err error
		if ckpts, err = loadMRTCheckpoints(ctx, client); err != nil {
			r.logger.Warn("cannot read the MRT checkpoints; the files are read as new", zap.Error(err))
			ckpts = map[string]mrtCheckpoint{}
		}
	}
	m := &mrtReader{r: r, cfg: cfg, ckpts: ckpts, client: client, delivered: maps.Clone(ckpts), pending: map[string]mrtCheckpoint{},
		files: map[string]*mrtFile{}, done: make(chan struct{}), buf: make([]byte, mrtReadChunk)}
	m.wg.Add(1)
	go m.run()
	return m, nil
}

func (m *mrtReader) run() {
	defer m.wg.Done()
	tick := time.NewTicker(m.cfg.PollInterval)
	defer tick.Stop()
	first := true
	for {
		m.poll()
		if first && !m.stopped() {
			first = false // the first pass over the files is queued: the initial load
			m.r.enqueue(&routingStep{fn: m.r.routingMRTLoaded})
		}
		select {
		case <-tick.C:
		case <-m.done:
			return
		}
	}
}

func (m *mrtReader) stopped() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// poll reads what is new in every matching file, in name order.
func (m *mrtReader) poll() {
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
			f = &mrtFile{path: p, state: newMRTState()}
			m.files[p] = f
		}
		if err := m.read(f); err != nil {
			m.r.logger.Warn("mrt: cannot read file", zap.String("path", p), zap.Error(err))
		}
	}
}

// read consumes the new bytes of f.
func (m *mrtReader) read(f *mrtFile) error {
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
		m.r.logger.Info("mrt: file replaced or truncated, reading it from the start", zap.String("path", f.path))
		f.offset, f.emitFrom, f.pending, f.resync = 0, 0, f.pending[:0], false
		up := f.state.up
		f.state = newMRTState()
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
func (m *mrtReader) consume(f *mrtFile, buf []byte) []byte {
	base := f.offset - int64(len(buf)) // file offset of buf[0]
	n := scanMRT(buf, f.state, &f.resync,
		func(e event.Event, end int) {
			off := base + int64(end)
			e.Head().Mark = &event.Mark{Path: f.path, Offset: off, Dev: f.dev, Ino: f.ino, Replay: off <= f.emitFrom}
			m.r.enqueue(e)
		},
		func(off int, err error) {
			m.r.countMalformed(schema.BGPSourceMRT)
			if errors.Is(err, errMRTFraming) {
				m.r.logger.Warn("mrt: bad record header, looking for the next one", zap.String("path", f.path),
					zap.Int64("offset", base+int64(off)), zap.Error(err))
				return
			}
			m.r.logger.Debug("mrt: malformed record skipped", zap.String("path", f.path), zap.Int64("offset", base+int64(off)), zap.Error(err))
		})
	return append(buf[:0], buf[n:]...)
}

func (m *mrtReader) stop() {
	close(m.done)
	m.wg.Wait()
}
