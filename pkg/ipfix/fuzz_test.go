package ipfix

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are real-looking and malformed messages. They are also
// written to testdata/fuzz/FuzzDecode by TestWriteFuzzSeeds.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	msgs := benchMessages(3)
	seeds["ipfix_template_and_data"] = append(bytes.Clone(msgs[0][:len(msgs[0])]), 0) // trailing byte beyond the length
	full := newIPFIX(1748779200, 0, 1)
	full.set(2).tmpl(256, typicalFields...)
	full.set(256)
	for i := range 3 {
		writeTypical(full, i)
	}
	seeds["ipfix_typical"] = full.bytes()

	m := newIPFIX(1, 0, 0)
	m.set(3).optTmpl(300, 1, fs{302, 8, 0}, fs{305, 4, 0}, fs{306, 4, 0}).pad(2)
	m.set(300).u64(1).u32(1).u32(4095)
	m.set(2).tmpl(256, fs{8, 4, 0}, fs{82, varLen, 0}, fs{1, 4, PENReverse}, fs{77, 2, 9}, fs{22, 4, 0}, fs{160, 8, 0})
	m.set(256).addr("10.0.0.1").varField([]byte("eth0")).u32(5).u16(1).u32(1000).u64(baseMs).
		addr("10.0.0.2").u8(255).u16(3).raw('a', 'b', 'c').u32(6).u16(2).u32(2000).u64(baseMs).pad(3)
	seeds["ipfix_options_varlen_biflow"] = m.bytes()

	m = newIPFIX(1, 0, 0)
	m.set(2).tmpl(257, fs{27, 16, 0}, fs{28, 16, 0}, fs{156, 8, 0}, fs{158, 4, 0}, fs{32, 2, 0})
	m.set(257).addr("2001:db8::1").addr("2001:db8::2").u64(0xE9A1B2C3_80000000).u32(100).u16(0x0301)
	m.set(2).u16(2).u16(0)
	m.set(3).u16(3).u16(0)
	seeds["ipfix_v6_and_withdrawals"] = m.bytes()

	v9 := newV9(3_600_000, 1748779200, 7, 5)
	v9.set(0).tmpl(256, fs{8, 4, 0}, fs{12, 4, 0}, fs{1, 4, 0}, fs{2, 4, 0}, fs{22, 4, 0}, fs{21, 4, 0}, fs{48, 1, 0})
	v9.set(1).v9OptTmpl(257, []fs{{1, 4, 0}}, []fs{{48, 1, 0}, {34, 4, 0}, {50, 4, 0}}).pad(2)
	v9.set(257).record().u32(0).u8(1).u32(100).u32(0).pad(3)
	v9.set(256).record().addr("10.0.0.1").addr("10.0.0.2").u32(1).u32(1).u32(3_500_000).u32(3_599_000).u8(1)
	seeds["v9_template_options_data"] = v9.bytes()

	seeds["truncated"] = full.bytes()[:40]
	wrongLen := bytes.Clone(full.bytes())
	wrongLen[3] += 10
	seeds["ipfix_length_too_long"] = wrongLen
	hugeSet := bytes.Clone(full.bytes())
	hugeSet[18], hugeSet[19] = 0xff, 0xff
	seeds["huge_set_length"] = hugeSet
	seeds["zero_field_template"] = newIPFIX(1, 0, 0).set(2).u16(256).u16(0).u16(257).u16(1).u16(1).u16(0).set(257).u32(0).bytes()
	seeds["zero_field_template_v9"] = newV9(1, 1, 0, 0).set(0).u16(256).u16(0).set(256).u32(0).bytes()
	seeds["unknown_version"] = append([]byte{0, 5, 0, 1}, make([]byte, 44)...)
	seeds["empty_set"] = newIPFIX(1, 0, 0).set(256).bytes()
	seeds["options_scope_overflow"] = newIPFIX(1, 0, 0).set(3).optTmpl(300, 9, fs{34, 4, 0}).bytes()
	seeds["enterprise_truncated"] = newIPFIX(1, 0, 0).set(2).u16(300).u16(1).u16(0x8001).u16(4).u16(0).bytes()
	return seeds
}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("IPFIX_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set IPFIX_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes as IPFIX / NetFlow v9 messages. The
// input is decoded twice (so templates it defines apply to its data on
// the second pass) and then as two halves; a recovered panic fails, and
// the resulting state must survive a Snapshot/Restore round trip.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	// Real exporter output: the first datagram (templates, options and
	// data) of each softflowd capture.
	for _, name := range []string{"v10", "v9", "v10_bidir", "v10_nano"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "softflowd", name+".dgrams")); err == nil && len(b) > 2 {
			if n := int(b[0])<<8 | int(b[1]); len(b) >= 2+n {
				f.Add(b[2 : 2+n])
			}
		}
	}
	exp := netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(Config{MaxTemplatesPerExporter: 16, MaxFieldsPerTemplate: 64, MaxRecordsPerSet: 512, EmitOptionsRecords: true})
		records := 0
		fn := func(r *Record) {
			records++
			for _, x := range r.Extra {
				_ = len(x.Value)
			}
		}
		d.Decode(exp, data, fn)
		d.Decode(exp, data, fn)
		half := len(data) / 2
		d.Decode(exp, data[:half], fn)
		d.Decode(exp, data[half:], fn)
		s := d.Stats()
		if s.Errors[ErrPanic] != 0 {
			t.Fatalf("decoder panicked on %x", data)
		}
		for _, ds := range s.Domains {
			if ds.Templates > 16 {
				t.Fatalf("%d templates past the limit", ds.Templates)
			}
		}
		if records > 4*len(data)+4 {
			t.Fatalf("%d records from %d bytes", records, len(data))
		}
		snap := d.Snapshot()
		d2 := NewDecoder(Config{MaxFieldsPerTemplate: 64})
		if err := d2.Restore(snap); err != nil {
			t.Fatalf("restore of own snapshot: %v", err)
		}
		if got, want := d2.Stats().Templates, s.Templates; got != want {
			t.Fatalf("restored %d templates, had %d", got, want)
		}
	})
}

// FuzzRestore checks that arbitrary snapshot bytes never panic.
func FuzzRestore(f *testing.F) {
	d := NewDecoder(Config{})
	for _, b := range fuzzSeeds() {
		d.Decode(netip.MustParseAddr("192.0.2.1"), b, nil)
	}
	f.Add(d.Snapshot())
	f.Add([]byte(snapshotMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(Config{})
		if err := d.Restore(data); err != nil {
			return
		}
		if _, err := parseSnapshot(d.Snapshot(), DefaultMaxFieldsPerTemplate); err != nil {
			t.Fatalf("snapshot after restore unreadable: %v", err)
		}
	})
}
