package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// sender is a passive BGP speaker that sends one pre-serialized table to every session it
// accepts, one session at a time, then keeps the session up with KEEPALIVEs until the peer
// closes it. Serializing happens once, before any session, so a session costs the sender
// little more than write(2).
type sender struct {
	ln      net.Listener
	data    []byte
	msgs    int
	holdSec uint16
}

func newSender(addr string, t *table) (*sender, error) {
	data, msgs, err := t.updates()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &sender{ln: ln, data: data, msgs: msgs, holdSec: 90}, nil
}

// serve accepts sessions until the listener closes; note is told "first" when the first
// UPDATE is written and "sent" when the last byte of the table is written.
func (s *sender) serve(note func(event string, t time.Time, err error)) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		err = s.session(c, note)
		_ = c.Close()
		note("closed", time.Now(), err)
	}
}

func (s *sender) session(c net.Conn, note func(string, time.Time, error)) error {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(false)
	}
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC),
		bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapRouteRefresh(),
		bgp.NewCapFourOctetASNumber(senderASN),
	}
	open, err := bgp.NewBGPOpenMessage(senderASN, s.holdSec, senderID,
		[]bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)}).Serialize()
	if err != nil {
		return err
	}
	keepalive, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	if _, err := c.Write(open); err != nil {
		return err
	}
	r := bufio.NewReaderSize(c, 64<<10)
	// OPEN, then KEEPALIVE, from the peer.
	_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
	for want := uint8(bgp.BGP_MSG_OPEN); ; {
		typ, err := readMessage(r)
		if err != nil {
			return fmt.Errorf("waiting for the peer's OPEN/KEEPALIVE: %w", err)
		}
		if typ == bgp.BGP_MSG_NOTIFICATION {
			return fmt.Errorf("NOTIFICATION from the peer during the handshake")
		}
		if typ != want {
			continue
		}
		if want == bgp.BGP_MSG_OPEN {
			if _, err := c.Write(keepalive); err != nil {
				return err
			}
			want = uint8(bgp.BGP_MSG_KEEPALIVE)
			continue
		}
		break
	}
	_ = c.SetReadDeadline(time.Time{})
	// Drain what the peer sends (KEEPALIVEs) until it closes.
	gone := make(chan error, 1)
	go func() {
		for {
			if _, err := readMessage(r); err != nil {
				gone <- err
				return
			}
		}
	}()
	note("first", time.Now(), nil)
	for off := 0; off < len(s.data); {
		end := min(off+256<<10, len(s.data))
		n, err := c.Write(s.data[off:end])
		if err != nil {
			return fmt.Errorf("writing the table: %w", err)
		}
		off += n
	}
	note("sent", time.Now(), nil)
	tick := time.NewTicker(time.Duration(s.holdSec/3) * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-gone:
			return nil // the peer closed the session: the run is over
		case <-tick.C:
			if _, err := c.Write(keepalive); err != nil {
				return nil
			}
		}
	}
}

// readMessage reads one BGP message and returns its type.
func readMessage(r *bufio.Reader) (uint8, error) {
	var h [19]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n < 19 || n > 65535 {
		return 0, fmt.Errorf("bad message length %d", n)
	}
	if _, err := r.Discard(n - 19); err != nil {
		return 0, err
	}
	return h[18], nil
}
