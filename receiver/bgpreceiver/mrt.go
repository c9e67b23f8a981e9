package bgpreceiver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/packet/mrt"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
)

// MRT record types and the extended-timestamp variant the GoBGP parser does not know.
const (
	mrtTableDumpV2 = uint16(mrt.TABLE_DUMPv2)
	mrtBGP4MP      = uint16(mrt.BGP4MP)
	mrtBGP4MPET    = uint16(mrt.BGP4MP_ET)
	// mrtMaxRecord bounds one record's body: a BGP4MP record holds one BGP message (at most
	// 65535 bytes, RFC 8654) and a TABLE_DUMPv2 RIB record one prefix with an entry per
	// peer; 1 MiB stops a corrupt length from allocating gigabytes.
	mrtMaxRecord = 1 << 20
	// mrtReadChunk is how much of a file is read at a time.
	mrtReadChunk = 256 << 10
	// mrtResyncWindow: a header found while resynchronising must carry a timestamp within
	// this many seconds of the last good record.
	mrtResyncWindow = 86400
)

// errMRTFraming means a record header cannot be right (unknown type or length past the
// limit): the reader looks for the next plausible header.
var errMRTFraming = errors.New("mrt: bad record header")

// mrtHeaderOK reports whether a 12-byte header looks like one this reader can follow.
func mrtHeaderOK(h []byte) bool {
	typ := binary.BigEndian.Uint16(h[4:6])
	length := binary.BigEndian.Uint32(h[8:12])
	switch typ {
	case uint16(mrt.TABLE_DUMP), mrtTableDumpV2, mrtBGP4MP, mrtBGP4MPET, uint16(mrt.OSPFv2), uint16(mrt.OSPFv3),
		uint16(mrt.OSPFv3_ET), uint16(mrt.ISIS), uint16(mrt.ISIS_ET):
	default:
		return false
	}
	return length <= mrtMaxRecord
}

// splitMRT returns the length of the first whole record in buf (header included), 0 when
// buf holds only part of one, or errMRTFraming when the header cannot be followed.
func splitMRT(buf []byte) (int, error) {
	if len(buf) < mrt.MRT_COMMON_HEADER_LEN {
		return 0, nil
	}
	if !mrtHeaderOK(buf) {
		return 0, fmt.Errorf("%w: type %d, length %d", errMRTFraming, binary.BigEndian.Uint16(buf[4:6]), binary.BigEndian.Uint32(buf[8:12]))
	}
	n := mrt.MRT_COMMON_HEADER_LEN + int(binary.BigEndian.Uint32(buf[8:12]))
	if len(buf) < n {
		return 0, nil
	}
	return n, nil
}

// resyncMRT finds the next offset in buf (after its first byte) where a plausible header
// starts: a known type, a length within bounds and, when lastTS is known, a timestamp close
// to it. It returns -1 when none is in buf yet.
func resyncMRT(buf []byte, lastTS uint32) int {
	for i := 1; i+mrt.MRT_COMMON_HEADER_LEN <= len(buf); i++ {
		h := buf[i:]
		if !mrtHeaderOK(h) {
			continue
		}
		if lastTS != 0 {
			ts := binary.BigEndian.Uint32(h[:4])
			d := int64(ts) - int64(lastTS)
			if d < -mrtResyncWindow || d > mrtResyncWindow {
				continue
			}
		}
		return i
	}
	return -1
}

// mrtState is what a file's earlier records tell about the later ones: the peers of the
// TABLE_DUMPv2 peer index table, the sessions seen up, and the last NOTIFICATION per peer
// (the reason of the state change that follows it).
type mrtState struct {
	collector netip.Addr
	index     []rib.Peer
	up        map[rib.Peer]bool
	notif     map[rib.Peer]item
	lastTS    uint32
}

func newMRTState() *mrtState {
	return &mrtState{up: map[rib.Peer]bool{}, notif: map[rib.Peer]item{}}
}

var mrtStateNames = map[mrt.BGPState]string{
	mrt.IDLE: "idle", mrt.CONNECT: "connect", mrt.ACTIVE: "active",
	mrt.OPENSENT: "opensent", mrt.OPENCONFIRM: "openconfirm", mrt.ESTABLISHED: "established",
}

func mrtStateName(s mrt.BGPState) string {
	if n, ok := mrtStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state-%d", s)
}

func ipAddr(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// decodeMRT turns one whole MRT record into receiver items. Records of types this reader
// has no use for (OSPF, IS-IS, the legacy TABLE_DUMP) are skipped without an error.
func decodeMRT(rec []byte, st *mrtState) (items []item, err error) {
	defer func() {
		if p := recover(); p != nil {
			items, err = nil, fmt.Errorf("mrt: unparsable record: %v", p)
		}
	}()
	var h mrt.MRTHeader
	if err := h.DecodeFromBytes(rec); err != nil {
		return nil, err
	}
	body := rec[mrt.MRT_COMMON_HEADER_LEN:]
	t := time.Unix(int64(h.Timestamp), 0)
	switch uint16(h.Type) {
	case mrtBGP4MPET:
		// RFC 6396 section 3: the microseconds come first and are counted in the length.
		if len(body) < 4 {
			return nil, errors.New("mrt: BGP4MP_ET record shorter than its timestamp")
		}
		us := binary.BigEndian.Uint32(body[:4])
		if us < 1e6 {
			t = t.Add(time.Duration(us) * time.Microsecond)
		}
		body = body[4:]
		h.Type, h.Len = mrt.BGP4MP, uint32(len(body))
	case mrtBGP4MP, mrtTableDumpV2:
	default:
		return nil, nil
	}
	st.lastTS = h.Timestamp
	m, err := mrt.ParseMRTBody(&h, body)
	if err != nil {
		return nil, fmt.Errorf("mrt: %w", err)
	}
	switch b := m.Body.(type) {
	case *mrt.BGP4MPStateChange:
		return st.stateChange(t, b), nil
	case *mrt.BGP4MPMessage:
		return st.message(t, mrt.MRTSubTypeBGP4MP(h.SubType), b)
	case *mrt.PeerIndexTable:
		st.collector = ipAddr(b.CollectorBgpId)
		st.index = st.index[:0]
		for _, p := range b.Peers {
			st.index = append(st.index, rib.Peer{Kind: rib.SourceMRT, Router: st.collector, Addr: ipAddr(p.IpAddress), ASN: p.AS})
		}
		return nil, nil
	case *mrt.Rib:
		return st.ribEntries(t, b)
	}
	return nil, nil
}

func (st *mrtState) peer(hd *mrt.BGP4MPHeader) rib.Peer {
	return rib.Peer{Kind: rib.SourceMRT, Router: ipAddr(hd.LocalIpAddress), Addr: ipAddr(hd.PeerIpAddress), ASN: hd.PeerAS}
}

func (st *mrtState) stateChange(t time.Time, b *mrt.BGP4MPStateChange) []item {
	peer := st.peer(b.BGP4MPHeader)
	switch {
	case b.NewState == mrt.ESTABLISHED && !st.up[peer]:
		st.up[peer] = true
		delete(st.notif, peer)
		return []item{{kind: itemPeerUp, t: t, peer: peer, state: "established"}}
	case b.OldState == mrt.ESTABLISHED && b.NewState != mrt.ESTABLISHED:
		delete(st.up, peer)
		it := item{kind: itemPeerDown, t: t, peer: peer, state: mrtStateName(b.NewState), reason: "fsm-" + mrtStateName(b.NewState)}
		if n, ok := st.notif[peer]; ok {
			it.reason = fmt.Sprintf("notification-%s %s", n.msgDir, bgp.NewNotificationErrorCode(n.code, n.subcode).String())
			it.code, it.subcode, it.hasCode = n.code, n.subcode, true
			delete(st.notif, peer)
		}
		return []item{it}
	}
	return nil
}

func (st *mrtState) message(t time.Time, sub mrt.MRTSubTypeBGP4MP, b *mrt.BGP4MPMessage) ([]item, error) {
	if b.BGPMessage == nil {
		return nil, errors.New("mrt: BGP4MP message without a BGP message")
	}
	peer := st.peer(b.BGP4MPHeader)
	dir := "received"
	switch sub {
	case mrt.MESSAGE_LOCAL, mrt.MESSAGE_AS4_LOCAL, mrt.MESSAGE_LOCAL_ADDPATH, mrt.MESSAGE_AS4_LOCAL_ADDPATH:
		dir = "sent"
	}
	if u, ok := b.BGPMessage.Body.(*bgp.BGPUpdate); ok && dir == "received" {
		// The peer's routes as it sent them (a message log is the Adj-RIB-In, pre-policy).
		return []item{{kind: itemUpdate, t: t, peer: peer, update: bgpconv.FromUpdate(u)}}, nil
	}
	it := messageItem(t, peer, b.BGPMessage, dir)
	if it.hasCode {
		st.notif[peer] = it
	}
	return []item{it}, nil
}

// ribEntries turns a TABLE_DUMPv2 RIB record into one announcement per entry.
func (st *mrtState) ribEntries(t time.Time, b *mrt.Rib) ([]item, error) {
	pfx, _, ok := bgpconv.Prefix(b.Prefix)
	if !ok {
		return nil, nil // not IPv4/IPv6 unicast
	}
	var items []item
	for _, e := range b.Entries {
		if int(e.PeerIndex) >= len(st.index) {
			return items, fmt.Errorf("mrt: RIB entry for peer index %d, the index table has %d peers", e.PeerIndex, len(st.index))
		}
		p := rib.Path{Prefix: pfx, ID: e.PathIdentifier}
		bgpconv.Attrs(e.PathAttributes, &p)
		items = append(items, item{kind: itemUpdate, t: t, peer: st.index[e.PeerIndex], dump: true, update: bgpconv.Update{Announced: []rib.Path{p}}})
	}
	return items, nil
}

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

// commitMRT writes the positions handled since the last delivered batch (RIB goroutine).
func (r *bgpReceiver) commitMRT() {
	if r.client == nil || len(r.mrtPending) == 0 {
		return
	}
	for p, c := range r.mrtPending {
		r.mrtCkpts[p] = c
	}
	clear(r.mrtPending)
	b, err := json.Marshal(r.mrtCkpts)
	if err == nil {
		err = r.client.Set(context.Background(), mrtStorageKey, b)
	}
	if err != nil {
		r.logger.Warn("mrt: cannot write the checkpoints; after a restart some events may repeat", zap.Error(err))
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
	ckpts map[string]mrtCheckpoint // delivered before the start
	files map[string]*mrtFile
	done  chan struct{}
	wg    sync.WaitGroup
	buf   []byte
}

func startMRT(r *bgpReceiver, cfg MRTConfig) (*mrtReader, error) {
	for _, g := range cfg.Include {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("mrt: bad glob %q: %w", g, err)
		}
	}
	m := &mrtReader{r: r, cfg: cfg, ckpts: r.mrtCkpts, files: map[string]*mrtFile{}, done: make(chan struct{}), buf: make([]byte, mrtReadChunk)}
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
			m.r.enqueue(item{kind: itemRouting, fn: m.r.routingMRTLoaded})
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
		func(it item, end int) {
			it.mrtPath = f.path
			it.mrtCkpt = mrtCheckpoint{Offset: base + int64(end), Dev: f.dev, Ino: f.ino}
			it.replay = it.mrtCkpt.Offset <= f.emitFrom
			m.r.enqueue(it)
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

// scanMRT decodes every whole record of buf, passing the items to emit (with the offset in
// buf where their record ends) and each malformed record (or unfollowable header) to bad, and
// returns how many bytes it consumed. After a bad header, *resync is set and bytes are skipped
// up to the next plausible header.
func scanMRT(buf []byte, st *mrtState, resync *bool, emit func(it item, end int), bad func(off int, err error)) int {
	off := 0
	for off < len(buf) {
		if *resync {
			i := resyncMRT(buf[off:], st.lastTS)
			if i < 0 {
				// Keep the tail that may hold the start of the next header.
				if keep := len(buf) - off - mrt.MRT_COMMON_HEADER_LEN + 1; keep > 0 {
					off += keep
				}
				break
			}
			off += i
			*resync = false
		}
		n, err := splitMRT(buf[off:])
		if err != nil {
			bad(off, err)
			*resync = true
			continue
		}
		if n == 0 {
			break
		}
		items, err := decodeMRT(buf[off:off+n], st)
		if err != nil {
			bad(off, err)
		}
		off += n
		for _, it := range items {
			emit(it, off)
		}
	}
	return off
}

func (m *mrtReader) stop() {
	close(m.done)
	m.wg.Wait()
}
