package speaker

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"
)

// TestListenerRefusals: the listener refuses, at accept, connections from addresses that are
// no configured peer, and reports the refusal; the peer is served. (The caps per listener
// and per source are internal/tcpserver's, tested there.)
func TestListenerRefusals(t *testing.T) {
	port := freePort(t)
	var mu sync.Mutex
	refused := map[string]int{}
	s, err := Start(Config{ASN: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenAddresses: []string{"127.0.0.1"}, ListenPort: int32(port),
		Peers:  []PeerConfig{{Address: netip.MustParseAddr("127.0.0.1"), ASN: 65001, Passive: true, HoldTime: 90 * time.Second}},
		Listen: ListenConfig{OnRefuse: func(r string) { mu.Lock(); refused[r]++; mu.Unlock() }}},
		zaptest.NewLogger(t), func(Event) {})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	count := func(r string) int { mu.Lock(); defer mu.Unlock(); return refused[r] }
	closed := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err != nil
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}}
	stranger, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	defer stranger.Close()
	require.True(t, closed(stranger))
	require.Eventually(t, func() bool { return count("not_allowed") == 1 }, 10*time.Second, 20*time.Millisecond)

	// The configured peer is served: the speaker sends its OPEN.
	first, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer first.Close()
	require.Equal(t, uint8(1), readMsg(t, first).Header.Type, "the speaker's OPEN")
	require.Equal(t, 1, count("not_allowed"))
}
