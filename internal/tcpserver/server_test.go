package tcpserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// greet is a handler that writes "ok" and then echoes until the peer closes.
func greet(c *Conn) {
	if _, err := c.Write([]byte("ok")); err != nil {
		return
	}
	_, _ = io.Copy(c, c)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// dialFrom connects from a given loopback address (127.x stands in for remote hosts).
func dialFrom(t *testing.T, from string, to net.Addr) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served reads the greeting: true if the server served the connection, false if it closed
// it. The deadline only keeps a broken server from hanging the test.
func served(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 2)
	_, err := io.ReadFull(c, b)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("neither served nor closed")
		}
		return false
	}
	return string(b) == "ok"
}

// waitFor polls a condition the server reaches asynchronously (a counter).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAllowListCheckedBeforeASlotIsTaken(t *testing.T) {
	s := New(listen(t), Config{Name: "t", MaxConnections: 2,
		Allowed: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }})
	s.Start(greet)
	defer s.Close()

	// More excluded connections than there are slots, held open by their clients.
	for range 4 {
		if served(t, dialFrom(t, "127.0.0.2", s.Addr())) {
			t.Fatal("an address outside the allow-list was served")
		}
	}
	for range 2 {
		if !served(t, dialFrom(t, "127.0.0.1", s.Addr())) {
			t.Fatal("an allowed exporter was refused while excluded addresses knocked")
		}
	}
	st := s.Stats()
	if st.Refused[NotAllowed] != 4 || st.Accepted != 2 || st.Active != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConnectionCaps(t *testing.T) {
	var mu sync.Mutex
	hooked := map[Reason][]netip.Addr{}
	s := New(listen(t), Config{Name: "t", MaxConnections: 3, MaxPerSource: 2,
		OnRefuse: func(r Reason, a netip.Addr) { mu.Lock(); hooked[r] = append(hooked[r], a); mu.Unlock() }})
	s.Start(greet)
	defer s.Close()

	a1, a2 := dialFrom(t, "127.0.0.1", s.Addr()), dialFrom(t, "127.0.0.1", s.Addr())
	if !served(t, a1) || !served(t, a2) {
		t.Fatal("the first two connections of a source must be served")
	}
	if served(t, dialFrom(t, "127.0.0.1", s.Addr())) {
		t.Fatal("a third connection from one source was served with max_per_source 2")
	}
	if !served(t, dialFrom(t, "127.0.0.3", s.Addr())) {
		t.Fatal("another source must get the last slot")
	}
	if served(t, dialFrom(t, "127.0.0.4", s.Addr())) {
		t.Fatal("a fourth connection was served with max_connections 3")
	}
	// A slot freed is a slot reused, and the source's count goes down with it.
	a1.Close()
	waitFor(t, "slot release", func() bool { return s.Stats().Active == 2 })
	if !served(t, dialFrom(t, "127.0.0.4", s.Addr())) {
		t.Fatal("a freed slot was not reused")
	}
	st := s.Stats()
	if st.Refused[SourceFull] != 1 || st.Refused[ListenerFull] != 1 {
		t.Fatalf("refusals %v", st.Refused)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(hooked[SourceFull]) != 1 || hooked[SourceFull][0] != netip.MustParseAddr("127.0.0.1") ||
		len(hooked[ListenerFull]) != 1 || hooked[ListenerFull][0] != netip.MustParseAddr("127.0.0.4") {
		t.Fatalf("OnRefuse saw %v", hooked)
	}
}

func TestIdleTimeoutClosesAndCounts(t *testing.T) {
	s := New(listen(t), Config{Name: "t", IdleTimeout: 50 * time.Millisecond})
	s.Start(greet)
	defer s.Close()
	c := dialFrom(t, "127.0.0.1", s.Addr())
	if !served(t, c) {
		t.Fatal("not served")
	}
	// The client says nothing: the server must close it.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection not closed by the server: %v", err)
	}
	waitFor(t, "idle counted", func() bool { return s.Stats().Refused[IdleTimeout] == 1 })
	waitFor(t, "slot released", func() bool { return s.Stats().Active == 0 })
}

func TestCheckSize(t *testing.T) {
	s := New(listen(t), Config{Name: "t", MaxMessageSize: 1024})
	got := make(chan error, 1)
	s.Start(func(c *Conn) {
		var hdr [4]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			got <- err
			return
		}
		got <- c.CheckSize(int(binary.BigEndian.Uint32(hdr[:])))
	})
	defer s.Close()
	c := dialFrom(t, "127.0.0.1", s.Addr())
	_, _ = c.Write([]byte{0, 0x10, 0, 0}) // announces 1 MiB
	if err := <-got; !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("CheckSize: %v", err)
	}
	if n := s.Stats().Refused[MessageTooLarge]; n != 1 {
		t.Fatalf("message_too_large %d", n)
	}
}

func TestTLS(t *testing.T) {
	cert := selfSigned(t)
	s := New(listen(t), Config{Name: "t", HandshakeTimeout: 100 * time.Millisecond,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	s.Start(greet)
	defer s.Close()

	// A client that connects and never starts the handshake is closed and counted.
	stalled := dialFrom(t, "127.0.0.2", s.Addr())
	_ = stalled.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("stalled handshake not closed: %v", err)
	}
	waitFor(t, "handshake refusal", func() bool { return s.Stats().Refused[TLSHandshake] == 1 })

	c := tls.Client(dialFrom(t, "127.0.0.1", s.Addr()), &tls.Config{InsecureSkipVerify: true})
	if !served(t, c) {
		t.Fatal("TLS client not served")
	}
}

func TestRefusalsLoggedOncePerIntervalPerSource(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s := New(listen(t), Config{Name: "ipfix", Logger: zap.New(core), LogInterval: time.Hour,
		Allowed: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.1") }})
	s.Start(greet)
	defer s.Close()
	for range 5 {
		served(t, dialFrom(t, "127.0.0.2", s.Addr()))
	}
	served(t, dialFrom(t, "127.0.0.3", s.Addr()))
	waitFor(t, "refusals", func() bool { return s.Stats().Refused[NotAllowed] == 6 })
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d log lines for 6 refusals from 2 sources, want 2", len(entries))
	}
	for i, want := range []string{"127.0.0.2", "127.0.0.3"} {
		f := entries[i].ContextMap()
		if f["source"] != want || f["reason"] != "not_allowed" || f["listener"] != "ipfix" {
			t.Fatalf("log line %d: %v", i, f)
		}
	}
}

// scriptedListener returns the scripted accept errors, then real connections.
type scriptedListener struct {
	net.Listener
	mu     sync.Mutex
	errs   []error
	calls  int
	failed chan struct{}
}

func (l *scriptedListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls++
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		if len(l.errs) == 0 {
			close(l.failed)
		}
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

func TestAcceptBacksOffOnFDExhaustion(t *testing.T) {
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	errs := []error{emfile, emfile, emfile, emfile, emfile, emfile, &net.OpError{Op: "accept", Err: syscall.ECONNABORTED}}
	ln := &scriptedListener{Listener: listen(t), errs: errs, failed: make(chan struct{})}
	s := New(ln, Config{Name: "t", MinBackoff: time.Millisecond, MaxBackoff: 8 * time.Millisecond})
	s.reserve = nil // the scripted listener has nothing queued to shed
	var mu sync.Mutex
	var slept []time.Duration
	s.sleep = func(_ context.Context, d time.Duration) { mu.Lock(); slept = append(slept, d); mu.Unlock() }
	s.Start(greet)
	defer s.Close()
	<-ln.failed
	// The loop recovers and serves.
	if !served(t, dialFrom(t, "127.0.0.1", s.Addr())) {
		t.Fatal("not served after the accept errors")
	}
	want := []time.Duration{1, 2, 4, 8, 8, 8, 8}
	mu.Lock()
	defer mu.Unlock()
	if len(slept) != len(want) {
		t.Fatalf("slept %v: one pause per failed accept expected", slept)
	}
	for i := range want {
		if slept[i] != want[i]*time.Millisecond {
			t.Fatalf("backoff %v, want %v ms", slept, want)
		}
	}
	st := s.Stats()
	if st.Refused[FDExhausted] != 6 || st.Refused[AcceptError] != 1 {
		t.Fatalf("refusals %v", st.Refused)
	}
}

func TestCloseReleasesEverything(t *testing.T) {
	s := New(listen(t), Config{Name: "t"})
	s.Start(greet)
	c := dialFrom(t, "127.0.0.1", s.Addr())
	if !served(t, c) {
		t.Fatal("not served")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Fatal("listener open after Close")
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
