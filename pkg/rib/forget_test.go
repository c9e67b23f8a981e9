package rib

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPathLimits(t *testing.T) {
	r, _ := newRIB(t, func(c *Config) {
		c.MaxPaths = 4
		c.PeerPathLimit = func(p Peer) int {
			if p.Kind == SourceBMP {
				return 2
			}
			return 0
		}
	})
	announce(t, r, at(0), ce, "10.1.0.0/16", "192.168.1.2", 12076, 65001)
	announce(t, r, at(0), ce, "10.2.0.0/16", "192.168.1.2", 12076, 65001)
	err := r.Announce(at(0), ce, Path{Prefix: mp("10.3.0.0/16"), NextHop: ma("192.168.1.2"), ASPath: Seq(12076, 65001)})
	if !errors.Is(err, ErrPeerPathLimit) {
		t.Fatalf("third path of a BMP peer limited to 2: %v", err)
	}
	// A path replacing one of the peer's is taken at the bound.
	announce(t, r, at(time.Second), ce, "10.2.0.0/16", "192.168.1.2", 12076, 65002)
	if rs := r.Routes(mp("10.2.0.0/16")); len(rs) != 1 || rs[0].OriginASN() != 65002 {
		t.Fatalf("replacement not taken: %+v", rs)
	}
	announce(t, r, at(0), nva, "10.4.0.0/16", "10.0.0.10", 65010)
	announce(t, r, at(0), nva, "10.5.0.0/16", "10.0.0.10", 65010)
	err = r.Announce(at(0), nva, Path{Prefix: mp("10.6.0.0/16"), NextHop: ma("10.0.0.10"), ASPath: Seq(65010)})
	if !errors.Is(err, ErrPathLimit) {
		t.Fatalf("fifth path with MaxPaths 4: %v", err)
	}
	if st := r.Stats(); st.Paths != 4 {
		t.Fatalf("paths %d, want 4", st.Paths)
	}
	// Room again after a withdrawal.
	r.Withdraw(at(2*time.Second), nva, mp("10.5.0.0/16"))
	announce(t, r, at(2*time.Second), nva, "10.6.0.0/16", "10.0.0.10", 65010)
}

func TestForgetPeers(t *testing.T) {
	r, rec := newRIB(t, func(c *Config) { c.AdjacencyFlap.Window = time.Minute })
	announce(t, r, at(0), ce, "10.1.0.0/16", "192.168.1.2", 12076, 65001)
	announce(t, r, at(0), nva, "10.2.0.0/16", "10.0.0.10", 65010)
	r.PeerUp(at(0), rs0)
	r.PeerDown(at(time.Second), ce)
	rec.take()
	if got := r.ForgetPeers(at(30*time.Second), time.Second); len(got) != 0 {
		t.Fatalf("forgot %v within the adjacency-flap window", got)
	}
	got := r.ForgetPeers(at(2*time.Minute), time.Second)
	if len(got) != 1 || got[0] != ce {
		t.Fatalf("forgot %v, want only the peer that went down", got)
	}
	if r.NumPeers() != 2 || len(r.Peers()) != 2 {
		t.Fatalf("peers left: %+v", r.Peers())
	}
	if _, ok := r.PeerStats(ce); ok {
		t.Fatal("a forgotten peer still has stats")
	}
	// A new peer takes the free slot; the routes of the others are untouched.
	bmp2 := Peer{Kind: SourceBMP, Router: ma("192.168.255.1"), Addr: ma("192.168.1.6"), ASN: 12076}
	announce(t, r, at(3*time.Minute), bmp2, "10.3.0.0/16", "192.168.1.6", 12076, 65003)
	if rs := r.Routes(mp("10.3.0.0/16")); len(rs) != 1 || rs[0].Peer != bmp2 {
		t.Fatalf("routes of the new peer: %+v", rs)
	}
	if rs := r.Routes(mp("10.2.0.0/16")); len(rs) != 1 || rs[0].Peer != nva {
		t.Fatalf("routes of the NVA: %+v", rs)
	}
	// The forgotten peer coming back starts afresh.
	announce(t, r, at(4*time.Minute), ce, "10.1.0.0/16", "192.168.1.2", 12076, 65001)
	if ps, ok := r.PeerStats(ce); !ok || ps.Downs != 0 || ps.Routes != 1 {
		t.Fatalf("peer back: %+v", ps)
	}
	if len(r.Peers()) != 4 {
		t.Fatalf("peers: %+v", r.Peers())
	}
}

func TestForgetResolvesPrefixCount(t *testing.T) {
	r, rec := newRIB(t, func(c *Config) {
		c.PrefixCount.MinBaseline = 2
		c.PrefixCount.Window = time.Second
		c.AdjacencyFlap.Enabled = false
	})
	for i, p := range []string{"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"} {
		announce(t, r, at(time.Duration(i)), ce, p, "192.168.1.2", 12076, 65001)
	}
	r.Tick(at(2 * time.Second))
	r.PeerDown(at(3*time.Second), ce)
	if ev := rec.take(EventPrefixCount); len(ev) != 1 || ev[0].Phase != PhaseStart {
		t.Fatalf("prefix count events: %+v", ev)
	}
	rec.take()
	r.ForgetPeers(at(time.Hour), time.Minute)
	ev := rec.take(EventPrefixCount)
	if len(ev) != 1 || ev[0].Phase != PhaseResolved || ev[0].Reason != "forgotten" || r.Active().PrefixCount != 0 {
		t.Fatalf("prefix count events: %+v", ev)
	}
}

// TestAttrBytesLimit: routes with long AS paths unlike any other are refused once the
// interned attributes reach MaxAttrBytes; routes sharing an interned path are still taken,
// and withdrawals free the room.
func TestAttrBytesLimit(t *testing.T) {
	r, _ := newRIB(t, func(c *Config) { c.MaxAttrBytes = 10_000 })
	long := func(i int) []uint32 {
		p := make([]uint32, 100)
		for j := range p {
			p[j] = uint32(64512 + i*100 + j)
		}
		return p
	}
	taken := 0
	var refused error
	for i := 0; i < 50 && refused == nil; i++ {
		refused = r.Announce(at(0), nva, Path{Prefix: mp(fmt.Sprintf("10.%d.0.0/16", i)), NextHop: ma("10.0.0.10"), ASPath: Seq(long(i)...)})
		if refused == nil {
			taken++
		}
	}
	if !errors.Is(refused, ErrAttrLimit) || taken < 5 || taken > 20 {
		t.Fatalf("%d routes of 100-ASN paths taken with 10,000 bytes, then %v", taken, refused)
	}
	if st := r.Stats(); st.Paths != taken || st.Intern.ASPaths != taken {
		t.Fatalf("stats after the refusal: %+v", st)
	}
	// A path already interned costs nothing more.
	announce(t, r, at(0), rs0, "10.200.0.0/16", "10.1.0.4", long(0)...)
	// Withdrawals free the room.
	for i := 0; i < taken; i++ {
		r.Withdraw(at(time.Second), nva, mp(fmt.Sprintf("10.%d.0.0/16", i)))
	}
	announce(t, r, at(2*time.Second), nva, "10.100.0.0/16", "10.0.0.10", long(99)...)
}
