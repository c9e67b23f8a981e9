package ipfix

import (
	"net/netip"
	"testing"
	"time"
)

func TestPoolHandsRestoredStateToTheWorkerThatMeetsIt(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	// Before the restart: two workers, one exporter each.
	sh := &Shared{}
	w1 := NewDecoder(Config{Now: clk.now, Shared: sh})
	w2 := NewDecoder(Config{Now: clk.now, Shared: sh})
	tm := newIPFIX(1, 0, 0)
	tm.set(2).tmpl(256, fs{1, 4, 0})
	collect(t, w1, "127.0.0.1", tm.bytes())
	collect(t, w2, "127.0.0.2", tm.bytes())
	snap := Merge(w1, w2)

	// After: the pool holds both; the exporters land on the other workers.
	sh = &Shared{}
	pool := NewDecoder(Config{Now: clk.now, Shared: sh})
	if err := pool.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if sh.Templates() != 2 {
		t.Fatalf("restored %d templates", sh.Templates())
	}
	n1 := NewDecoder(Config{Now: clk.now, Shared: sh, Pool: pool})
	n2 := NewDecoder(Config{Now: clk.now, Shared: sh, Pool: pool})
	data := newIPFIX(1, 1, 0)
	data.set(256).u32(7)
	if recs := collect(t, n2, "127.0.0.1", data.bytes()); len(recs) != 1 || recs[0].Bytes != 7 {
		t.Fatalf("first data after the restart: %d records", len(recs))
	}
	if recs := collect(t, n1, "127.0.0.2", data.bytes()); len(recs) != 1 {
		t.Fatalf("first data after the restart: %d records", len(recs))
	}
	// Moved, not copied.
	if s := pool.Stats(); s.Templates != 0 || s.Exporters != 0 || sh.Templates() != 2 || sh.Exporters() != 2 {
		t.Fatalf("pool %+v, shared %d templates %d exporters", s, sh.Templates(), sh.Exporters())
	}
	// One snapshot of everything again.
	d := NewDecoder(Config{Now: clk.now})
	if err := d.Restore(Merge(pool, n1, n2)); err != nil || d.Stats().Templates != 2 {
		t.Fatalf("merged snapshot: %v, %+v", err, d.Stats())
	}
}

func TestRestoreAfterTemplateBombIsBounded(t *testing.T) {
	big := NewDecoder(Config{MaxTemplates: 1 << 20, MaxTemplateBytes: 1 << 30})
	fields := make([]fs, 64)
	for i := range fields {
		fields[i] = fs{uint16(i + 1), 4, 9}
	}
	for src := range 8 {
		for half := range uint16(2) {
			m := newIPFIX(1, 0, 0)
			m.set(2)
			for id := range uint16(100) {
				m.tmpl(256+100*half+id, fields...)
			}
			collect(t, big, "127.0.1."+string(rune('0'+src)), m.bytes())
		}
	}
	if big.Stats().Templates != 1600 {
		t.Fatalf("bomb: %d templates", big.Stats().Templates)
	}
	d := NewDecoder(Config{MaxTemplates: 100, MaxTemplateBytes: 1 << 30})
	if err := d.Restore(big.Snapshot()); err != nil {
		t.Fatal(err)
	}
	if s := d.Stats(); s.Templates != 100 {
		t.Fatalf("restored %d templates with max 100", s.Templates)
	}
	d = NewDecoder(Config{MaxTemplateBytes: 64 << 10})
	_ = d.Restore(big.Snapshot())
	if s := d.Stats(); s.TemplateBytes > 64<<10 || s.TemplateBytes < 60<<10 {
		t.Fatalf("restored %d template bytes with max 64 KiB", s.TemplateBytes)
	}
}

// FuzzBoundedState feeds arbitrary messages from two exporters to two decoders sharing tight
// limits: the bounds hold, the shared counts match what the decoders hold, nothing panics.
func FuzzBoundedState(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b, b)
	}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	f.Fuzz(func(t *testing.T, m1, m2 []byte) {
		sh := &Shared{}
		cfg := Config{MaxTemplates: 4, MaxTemplateBytes: 256, MaxExporters: 2, MaxDomainsPerExporter: 2, Shared: sh}
		d1, d2 := NewDecoder(cfg), NewDecoder(cfg)
		for _, d := range []*Decoder{d1, d2} {
			d.Decode(a, m1, nil)
			d.Decode(b, m2, nil)
			d.Decode(b, m1, nil)
			d.Decode(a, m2, nil)
		}
		s1, s2 := d1.Stats(), d2.Stats()
		if s1.Total[ErrPanic]+s2.Total[ErrPanic] != 0 {
			t.Fatal("decoder panicked")
		}
		if n := s1.Templates + s2.Templates; n > 4 || n != sh.Templates() {
			t.Fatalf("templates %d + %d, shared %d", s1.Templates, s2.Templates, sh.Templates())
		}
		if n := s1.TemplateBytes + s2.TemplateBytes; n > 256 || n != sh.TemplateBytes() {
			t.Fatalf("template bytes %d + %d, shared %d", s1.TemplateBytes, s2.TemplateBytes, sh.TemplateBytes())
		}
		if n := s1.Exporters + s2.Exporters; n > 2 || n != sh.Exporters() {
			t.Fatalf("exporters %d + %d, shared %d", s1.Exporters, s2.Exporters, sh.Exporters())
		}
		p := NewDecoder(Config{Shared: &Shared{}})
		if err := p.Restore(Merge(d1, d2)); err != nil {
			t.Fatalf("restore: %v", err)
		}
	})
}
