package loganalytics

import (
	"bytes"
	"compress/gzip"
	"sync"

	"go.opentelemetry.io/collector/pdata/plog"
)

// MaxRequestBytes is the Logs Ingestion API's documented size limit of one call (1 MB, for the
// compressed and for the uncompressed data): every request body stays at or below it before
// compression.
const MaxRequestBytes = 1_000_000

// Drop reasons of records that never become a request.
const (
	ReasonNotOurs       = "not_erviz_record" // no flow.type, bgp.event or flow.rollup.flows attribute
	ReasonStreamOff     = "stream_disabled"  // the record's kind has no stream configured
	ReasonRowTooLarge   = "row_too_large"    // the row alone exceeds the request size limit
	ReasonRejected      = "rejected"         // the API refused the rows for good (4xx other than 429)
	ReasonRetriesExpire = "retries_exhausted"
)

// RecordRef locates a log record in its plog.Logs.
type RecordRef struct{ Resource, Scope, Record int }

// Request is one call of the Logs Ingestion API: rows of one stream as a JSON array.
type Request struct {
	Kind   Kind
	Stream string
	Body   []byte // the JSON array, uncompressed
	Refs   []RecordRef
	Ends   []int // offset in Body just after each row
}

// Split returns the two halves of a request of at least two rows (for an API that answers 413
// to a request within the documented limit).
func (r Request) Split() (Request, Request) {
	mid := len(r.Refs) / 2
	cut := r.Ends[mid-1]
	a := Request{Kind: r.Kind, Stream: r.Stream, Refs: r.Refs[:mid], Ends: r.Ends[:mid]}
	a.Body = append(append(make([]byte, 0, cut+1), r.Body[:cut]...), ']')
	b := Request{Kind: r.Kind, Stream: r.Stream, Refs: r.Refs[mid:]}
	b.Body = append(append(make([]byte, 0, len(r.Body)-cut), '['), r.Body[cut+1:]...)
	shift := cut + 1 - 1 // bytes removed before the second half's rows (the comma replaced by '[')
	for _, e := range r.Ends[mid:] {
		b.Ends = append(b.Ends, e-shift)
	}
	return a, b
}

// Drop is a record that gets no row.
type Drop struct {
	Kind   Kind // meaningless for ReasonNotOurs
	Reason string
	Ref    RecordRef
}

// Packer maps the records of a plog.Logs to requests of at most MaxBytes per stream.
type Packer struct {
	// Streams is the stream of each kind; "" turns the kind off.
	Streams [numKinds]string
	// MaxBytes bounds a request body (uncompressed); 0 means MaxRequestBytes.
	MaxBytes int
	Mapper   *Mapper
	row      []byte
}

// Pack returns the requests, per kind in Kind order and within a kind in record order, and the
// records that get no row.
func (p *Packer) Pack(ld plog.Logs) ([]Request, []Drop) {
	limit := p.MaxBytes
	if limit <= 0 {
		limit = MaxRequestBytes
	}
	var open [numKinds]*Request
	var reqs []Request
	var drops []Drop
	flush := func(k Kind) {
		if r := open[k]; r != nil {
			r.Body = append(r.Body, ']')
			reqs = append(reqs, *r)
			open[k] = nil
		}
	}
	for ri, rl := range ld.ResourceLogs().All() {
		res := rl.Resource()
		for si, sl := range rl.ScopeLogs().All() {
			for li, lr := range sl.LogRecords().All() {
				ref := RecordRef{ri, si, li}
				k, ok := KindOf(lr.Attributes())
				if !ok {
					drops = append(drops, Drop{Reason: ReasonNotOurs, Ref: ref})
					continue
				}
				if p.Streams[k] == "" {
					drops = append(drops, Drop{Kind: k, Reason: ReasonStreamOff, Ref: ref})
					continue
				}
				p.row = p.Mapper.AppendRow(p.row[:0], k, res, lr)
				if len(p.row)+2 > limit {
					drops = append(drops, Drop{Kind: k, Reason: ReasonRowTooLarge, Ref: ref})
					continue
				}
				if r := open[k]; r != nil && len(r.Body)+1+len(p.row)+1 > limit {
					flush(k)
				}
				r := open[k]
				if r == nil {
					r = &Request{Kind: k, Stream: p.Streams[k], Body: make([]byte, 0, min(limit, 64<<10))}
					r.Body = append(r.Body, '[')
					open[k] = r
				} else {
					r.Body = append(r.Body, ',')
				}
				r.Body = append(r.Body, p.row...)
				r.Refs = append(r.Refs, ref)
				r.Ends = append(r.Ends, len(r.Body))
			}
		}
	}
	for k := range numKinds {
		flush(k)
	}
	// Kind order: requests were flushed as they filled; sort stably by kind.
	sortByKind(reqs)
	return reqs, drops
}

func sortByKind(reqs []Request) {
	for i := 1; i < len(reqs); i++ {
		for j := i; j > 0 && reqs[j].Kind < reqs[j-1].Kind; j-- {
			reqs[j], reqs[j-1] = reqs[j-1], reqs[j]
		}
	}
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// Gzip compresses a request body (Content-Encoding: gzip).
func Gzip(body []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(body) / 4)
	w := gzipPool.Get().(*gzip.Writer)
	w.Reset(&buf)
	_, _ = w.Write(body)
	_ = w.Close()
	gzipPool.Put(w)
	return buf.Bytes()
}
