package flowlogreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// object is one flow log blob (or file) found by a listing.
type object struct {
	// Key identifies the blob: "container/blob name" or the slash-separated path below the
	// directory. It is the checkpoint key and the base of log.record.uid.
	Key  string
	ETag string
	Size int64
	Tail pathTail
}

// chunk is a byte range of a blob read after its checkpoint.
type chunk struct {
	Data   []byte
	Offset int64 // offset of Data[0] in the blob
	// Complete: Data ends at a record boundary (whole committed blocks, or a settled file up
	// to its tail), so a record that does not parse is corrupt, not unfinished.
	Complete bool
	// AtEnd: Data reaches the end of the blob's data as of ETag.
	AtEnd bool
	ETag  string
	// EndBlockID is the ID of the block that ends at Offset+len(Data) (blobs).
	EndBlockID string
	// Downloaded is the number of bytes transferred to get Data.
	Downloaded int64
	// Reset: the checkpoint did not match the blob any more (rewritten, truncated) and the
	// blob is read again from its start.
	Reset string
	// Oversized: the next block is larger than max_record_size; it was not downloaded.
	// Offset is its start and EndBlockID, SkipEnd name its end.
	Oversized bool
	SkipEnd   int64
}

// errNotFound is returned by a source when the blob disappeared.
var errNotFound = errors.New("blob not found")

// source lists flow log blobs and reads their new bytes. It never modifies them.
type source interface {
	List(ctx context.Context) ([]object, error)
	// Read returns the bytes after cp, at most max bytes (but at least one whole block).
	Read(ctx context.Context, obj object, cp checkpoint, limit int64) (chunk, error)
	// End returns a checkpoint that skips what the blob holds now (start_at: end). For a
	// source that cannot tell record boundaries without parsing, it returns a chunk to parse
	// in place of the checkpoint (ok false).
	End(ctx context.Context, obj object) (checkpoint, bool, error)
	Close()
}

var tailBytes = []byte("]}")

// dirSource reads the Network Watcher layout from a local directory.
type dirSource struct {
	root string
	// settle is how long a file must stay unchanged before a record that does not parse at
	// its end is taken as corrupt rather than still being written.
	settle time.Duration
	now    func() time.Time
}

func (d *dirSource) List(ctx context.Context) ([]object, error) {
	var objs []object
	err := filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == d.root {
				return err
			}
			return nil // unreadable subdirectory: skip it, keep the rest
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if e.IsDir() || e.Name() != "PT1H.json" {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		tail, ok := parseTail(key)
		if !ok {
			return nil
		}
		info, err := e.Info()
		if err != nil {
			return nil
		}
		objs = append(objs, object{Key: key, ETag: fileETag(info), Size: info.Size(), Tail: tail})
		return nil
	})
	sortObjects(objs)
	return objs, err
}

func fileETag(info fs.FileInfo) string {
	return fmt.Sprintf("%d:%d", info.Size(), info.ModTime().UnixNano())
}

func sortObjects(objs []object) {
	sort.Slice(objs, func(i, j int) bool {
		if !objs[i].Tail.Hour.Equal(objs[j].Tail.Hour) {
			return objs[i].Tail.Hour.Before(objs[j].Tail.Hour)
		}
		return objs[i].Key < objs[j].Key
	})
}

func (d *dirSource) Read(_ context.Context, obj object, cp checkpoint, limit int64) (chunk, error) {
	f, err := os.Open(filepath.Join(d.root, filepath.FromSlash(obj.Key)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return chunk{}, errNotFound
		}
		return chunk{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return chunk{}, err
	}
	var ch chunk
	size := info.Size()
	off := cp.Offset
	if off > size {
		ch.Reset = fmt.Sprintf("file is shorter (%d bytes) than its checkpoint (%d)", size, off)
		off = 0
	}
	n := size - off
	if n > limit {
		n = limit
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return chunk{}, err
	}
	ch.Data, ch.Offset, ch.Downloaded = buf, off, n
	ch.ETag = fileETag(info)
	if off+n == size {
		ch.AtEnd = true
		trimmed := bytes.TrimRight(buf, " \t\r\n")
		if bytes.HasSuffix(trimmed, tailBytes) {
			ch.Data = trimmed[:len(trimmed)-len(tailBytes)]
			ch.Complete = d.now().Sub(info.ModTime()) >= d.settle
		}
	}
	return ch, nil
}

func (d *dirSource) End(context.Context, object) (checkpoint, bool, error) {
	return checkpoint{}, false, nil
}

func (d *dirSource) Close() {}
