package listener

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

func ipfixMsg(seq uint32, payload int) []byte {
	m := make([]byte, 16+payload)
	binary.BigEndian.PutUint16(m[0:], 10)
	binary.BigEndian.PutUint16(m[2:], uint16(len(m)))
	binary.BigEndian.PutUint32(m[8:], seq)
	return m
}

type collect struct {
	mu      sync.Mutex
	seqs    map[uint32]int
	workers map[int]bool
	from    map[string]bool
}

func newCollect() *collect {
	return &collect{seqs: map[uint32]int{}, workers: map[int]bool{}, from: map[string]bool{}}
}

func (c *collect) handle(w int, p *Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seqs[binary.BigEndian.Uint32(p.Data[8:])]++
	c.workers[w] = true
	c.from[p.Exporter.Addr().String()] = true
}

func (c *collect) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seqs)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestUDPReusePortDeliversEveryDatagram(t *testing.T) {
	u, err := ListenUDP(UDPConfig{Endpoint: "127.0.0.1:0", Sockets: 2, ReceiveBuffer: 4 << 20, QueueLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if u.GrantedReceiveBuffer() <= 0 {
		t.Errorf("granted receive buffer not read back: %d", u.GrantedReceiveBuffer())
	}
	c := newCollect()
	u.Start(c.handle)
	// Several exporters (source ports), paced so the kernel buffer never overflows.
	const exporters, per = 8, 50
	for e := 0; e < exporters; e++ {
		conn, err := net.Dial("udp", u.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < per; i++ {
			if _, err := conn.Write(ipfixMsg(uint32(e*per+i), 64)); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close()
	}
	waitFor(t, "400 datagrams", func() bool { return c.count() == exporters*per })
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	st := u.Stats()
	if st.Datagrams != exporters*per || st.Bytes != exporters*per*80 || st.QueueDrops != 0 {
		t.Errorf("stats %+v", st)
	}
	if !c.from["127.0.0.1"] {
		t.Errorf("exporter address not reported: %v", c.from)
	}
	for s, n := range c.seqs {
		if n != 1 {
			t.Errorf("sequence %d delivered %d times", s, n)
		}
	}
}

func TestUDPFullQueueDropsAndCounts(t *testing.T) {
	u, err := ListenUDP(UDPConfig{Endpoint: "127.0.0.1:0", Sockets: 1, QueueLength: 1})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var handled sync.WaitGroup
	handled.Add(1)
	var once sync.Once
	u.Start(func(int, *Packet) {
		once.Do(handled.Done)
		<-release // a stuck pipeline
	})
	conn, _ := net.Dial("udp", u.Addr().String())
	conn.Write(ipfixMsg(0, 16))
	handled.Wait()
	for i := 1; i <= 20; i++ {
		conn.Write(ipfixMsg(uint32(i), 16))
	}
	conn.Close()
	waitFor(t, "reads of all 21 datagrams", func() bool { return u.Stats().Datagrams == 21 })
	if st := u.Stats(); st.QueueDrops != 19 { // 1 in the handler, 1 queued, 19 dropped
		t.Errorf("queue drops = %d, want 19 (%+v)", st.QueueDrops, st)
	}
	close(release)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestUDPQueuedDatagramsHoldTheirSize: a stuck pipeline with a long queue holds each
// datagram in a buffer sized to it, not in a 64 KiB one (4,000 MTU-sized datagrams queued
// took 250 MiB before), and every byte arrives as sent whatever its size.
func TestUDPQueuedDatagramsHoldTheirSize(t *testing.T) {
	u, err := ListenUDP(UDPConfig{Endpoint: "127.0.0.1:0", Sockets: 1, QueueLength: 8192, ReceiveBuffer: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var got [][]byte
	u.Start(func(_ int, p *Packet) {
		<-release
		mu.Lock()
		got = append(got, append([]byte(nil), p.Data...))
		mu.Unlock()
	})
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conn, err := net.Dial("udp", u.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sizes := map[int]bool{}
	for i := 0; i < 4000; i++ {
		if _, err := conn.Write(ipfixMsg(uint32(i), 1384)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			time.Sleep(5 * time.Millisecond) // let the reader keep up with loopback
		}
	}
	big := [][]byte{ipfixMsg(1_000_001, 9000-16), ipfixMsg(1_000_002, 30000-16), ipfixMsg(1_000_003, MaxDatagram-28-16)}
	for _, b := range big {
		sizes[len(b)] = true
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	conn.Close()
	waitFor(t, "the datagrams read", func() bool { st := u.Stats(); return st.Datagrams+st.KernelDrops >= 4003 })
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := u.Stats()
	queued := st.Datagrams - st.QueueDrops
	if queued < 3000 {
		t.Fatalf("only %d datagrams queued (%+v)", queued, st)
	}
	grown := int64(after.HeapInuse) - int64(before.HeapInuse)
	if grown > 32<<20 {
		t.Errorf("%d queued datagrams hold %d MiB of heap, want under 32 MiB", queued, grown>>20)
	}
	close(release)
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		seq := binary.BigEndian.Uint32(g[8:])
		want := ipfixMsg(seq, len(g)-16)
		if !bytes.Equal(g, want) || (seq >= 1_000_000 && !sizes[len(g)]) {
			t.Fatalf("datagram %d of %d bytes altered", seq, len(g))
		}
		delete(sizes, len(g))
	}
	if len(sizes) != 0 {
		t.Errorf("large datagrams missing: %v", sizes)
	}
}

func TestUDPKernelDropCounter(t *testing.T) {
	// Fill a small kernel buffer before anything reads it: the kernel drops the rest and counts
	// them. SO_RXQ_OVFL reports the count on datagrams queued after the drops, so a probe
	// datagram sent once the buffer has drained carries it.
	u, err := ListenUDP(UDPConfig{Endpoint: "127.0.0.1:0", Sockets: 1, ReceiveBuffer: 4096, QueueLength: 8192})
	if err != nil {
		t.Fatal(err)
	}
	conn, _ := net.Dial("udp", u.Addr().String())
	for i := 0; i < 500; i++ {
		conn.Write(ipfixMsg(uint32(i), 1000))
	}
	c := newCollect()
	u.Start(c.handle)
	waitFor(t, "the buffered datagrams", func() bool { return u.Stats().Datagrams > 0 })
	conn.Write(ipfixMsg(9999, 16))
	waitFor(t, "the probe", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.seqs[9999] == 1
	})
	conn.Close()
	u.Close()
	st := u.Stats()
	if st.KernelDrops == 0 || st.Datagrams-1+st.KernelDrops != 500 {
		t.Errorf("kernel drops %d + delivered %d should account for all 500 datagrams", st.KernelDrops, st.Datagrams-1)
	}
}

func TestTCPFraming(t *testing.T) {
	// Messages split at odd boundaries arrive whole.
	var stream bytes.Buffer
	for i := 0; i < 30; i++ {
		stream.Write(ipfixMsg(uint32(i), i*7))
	}
	// A NetFlow v9 stream (no length field) then ends it with a framing error.
	v9 := make([]byte, 20)
	binary.BigEndian.PutUint16(v9, 9)
	stream.Write(v9)
	r := iotest.OneByteReader(bytes.NewReader(stream.Bytes()))
	buf := make([]byte, MaxDatagram)
	for i := 0; i < 30; i++ {
		msg, err := ReadMessage(r, buf)
		if err != nil || len(msg) != len(ipfixMsg(uint32(i), i*7)) {
			t.Fatalf("message %d: %d bytes, %v", i, len(msg), err)
		}
	}
	var fe *FramingError
	if _, err := ReadMessage(r, buf); !errors.As(err, &fe) {
		t.Fatalf("NetFlow v9 over TCP: %v, want a framing error", err)
	}
}

func TestReadMessageErrors(t *testing.T) {
	buf := make([]byte, MaxDatagram)
	short := ipfixMsg(1, 0)
	binary.BigEndian.PutUint16(short[2:], 8)
	var fe *FramingError
	if _, err := ReadMessage(bytes.NewReader(short), buf); !errors.As(err, &fe) {
		t.Errorf("length 8: %v", err)
	}
	trunc := ipfixMsg(1, 40)[:30]
	if _, err := ReadMessage(bytes.NewReader(trunc), buf); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := ReadMessage(bytes.NewReader(nil), buf); !errors.Is(err, io.EOF) {
		t.Errorf("clean end: %v", err)
	}
}

func FuzzReadMessage(f *testing.F) {
	f.Add(ipfixMsg(1, 10))
	f.Add([]byte{0, 10, 0, 3})
	f.Add([]byte{0, 9, 0, 20, 1, 2})
	f.Add(append(ipfixMsg(1, 0), ipfixMsg(2, 4)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]byte, MaxDatagram)
		r := bytes.NewReader(data)
		total := 0
		for i := 0; i < 10000; i++ {
			msg, err := ReadMessage(r, buf)
			if err != nil {
				break
			}
			if len(msg) < 16 || int(binary.BigEndian.Uint16(msg[2:])) != len(msg) {
				t.Fatalf("bad message framing: %d bytes", len(msg))
			}
			total += len(msg)
		}
		if total > len(data) {
			t.Fatalf("read %d bytes from %d", total, len(data))
		}
	})
}
