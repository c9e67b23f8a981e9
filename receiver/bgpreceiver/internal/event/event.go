// Package event holds the BGP events of the bgp receiver: its sources (the speaker's
// sessions, the BMP station, the MRT reader) emit them, and the receiver's pipeline applies
// them to the RIB and turns them into log records. One type per kind of event; each embeds
// Header.
package event

import (
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
)

// Event is one of *PeerUp, *PeerDown, *Update, *Message, *Stats, *Malformed.
type Event interface {
	Head() *Header
}

// Header is common to every event: when, which peer (with the source in Peer.Kind), and,
// for a source that keeps a position (MRT), where it stands once the event is delivered.
type Header struct {
	Time time.Time
	Peer rib.Peer
	Mark *Mark
}

// Head returns the header; it makes every type that embeds Header an Event.
func (h *Header) Head() *Header { return h }

// Mark is the position of a source after an event: the MRT file, where the record ends
// and the file's identity. Replay: the event was delivered before a restart; the RIB takes
// it and nothing is emitted.
type Mark struct {
	Path     string
	Offset   int64
	Dev, Ino uint64
	Replay   bool
}

// Notification is the code and subcode of a NOTIFICATION, when HasNotification.
type Notification struct {
	NotificationCode, NotificationSubcode uint8
	HasNotification                       bool
}

// NotificationOf is the Notification of code and subcode.
func NotificationOf(code, subcode uint8) Notification {
	return Notification{NotificationCode: code, NotificationSubcode: subcode, HasNotification: true}
}

// Graceful is the peer's Graceful Restart (RFC 4724) of a session.
type Graceful struct {
	// GracefulRestart: both OPENs of the session carried the capability and the peer's
	// names a restart time and at least one negotiated family. On a PeerDown it is set
	// only without NOTIFICATION: the peer is taken to be restarting, its routes are kept as
	// stale for RestartTime.
	GracefulRestart bool
	// RestartTime the peer's capability announced.
	RestartTime time.Duration
	// GracefulFamilies: the negotiated families the peer's capability names (schema
	// spelling), each with its Forwarding State bit.
	GracefulFamilies map[string]bool
}

// Session state names (bgp.session.state); a BMP peer down has no FSM state: down.
const (
	StateIdle        = "idle"
	StateConnect     = "connect"
	StateActive      = "active"
	StateOpenSent    = "opensent"
	StateOpenConfirm = "openconfirm"
	StateEstablished = "established"
	StateDown        = "down"
)

// PeerUp: a session reached Established.
type PeerUp struct {
	Header
	// State is the session state reached (bgp.session.state).
	State string
	// Session: what the OPENs negotiated, when the source has them.
	Session *bgpconv.Session
	Graceful
}

// PeerDown: an established session went down.
type PeerDown struct {
	Header
	State string
	// Reason: "notification-received code 6(cease) subcode 2(...)", "notification-sent
	// ...", "hold-timer-expired", "connection-closed", "connection-error: ...",
	// "speaker-stopped", BMP's and MRT's reasons.
	Reason string
	Notification
	// NoNotification: the session ended without a NOTIFICATION sent or received.
	NoNotification bool
	// BMPReason is the reason code of a BMP Peer Down notification (0: none).
	BMPReason int
	Graceful
}

// Policy says which side of the router's policy a route is seen on, when the source says.
type Policy uint8

// Policies.
const (
	PolicyUnknown Policy = iota
	PrePolicy
	PostPolicy
)

// Update: the announcements and withdrawals of one UPDATE (or one entry of an MRT table
// dump, Dump).
type Update struct {
	Header
	bgpconv.Update
	Policy Policy
	Dump   bool
}

// Message: a BGP message other than UPDATE (OPEN, NOTIFICATION, KEEPALIVE...) was sent or
// received.
type Message struct {
	Header
	// MessageType ("open", "notification", ...) and Direction ("sent", "received").
	MessageType, Direction string
	Length                 int
	Notification
}

// Stats: a BMP Statistics Report.
type Stats struct {
	Header
	Stats []Stat
}

// Stat is one counter of a Statistics Report.
type Stat struct {
	Type   string
	Value  uint64
	Family string
}

// Malformed: an UPDATE did not parse cleanly and was handled as RFC 7606 says; Reason
// says what was wrong.
type Malformed struct {
	Header
	Reason string
	Notification
}

// MessageOf describes a BGP message (OPEN, KEEPALIVE, NOTIFICATION, ...) a source saw in
// direction dir ("sent", "received").
func MessageOf(t time.Time, peer rib.Peer, m *bgp.BGPMessage, dir string) *Message {
	e := &Message{Header: Header{Time: t, Peer: peer}, MessageType: bgpconv.MessageType(m.Header.Type), Direction: dir, Length: int(m.Header.Len)}
	if n, ok := m.Body.(*bgp.BGPNotification); ok {
		e.Notification = NotificationOf(n.ErrorCode, n.ErrorSubcode)
	}
	return e
}
