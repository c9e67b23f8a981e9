package speaker

// The events the speaker hands to its callback.

import (
	"net/netip"
	"time"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/bgpconv"
)

// EventKind is the kind of an Event.
type EventKind uint8

const (
	// PeerUp: the session reached Established.
	PeerUp EventKind = iota + 1
	// PeerDown: an established session went down; Reason says why.
	PeerDown
	// Update: Update carries the announcements and withdrawals of one UPDATE of Peer.
	Update
	// Message: an OPEN or NOTIFICATION was sent or received (MessageType, Direction).
	Message
	// Malformed: an UPDATE of Peer did not parse cleanly and was handled as RFC 7606 says
	// (treated as withdraw, or an attribute discarded); Reason says what was wrong.
	Malformed
)

// Event is handed to the callback.
type Event struct {
	Kind    EventKind
	Time    time.Time
	Peer    netip.Addr
	PeerASN uint32
	// State is the session state reached (StateEstablished, StateIdle).
	State State
	// Reason of a PeerDown: "notification-received code 6(cease) subcode 2(...)",
	// "notification-sent ...", "hold-timer-expired", "connection-closed",
	// "connection-error: ...", "speaker-stopped".
	Reason string
	// NotificationCode and NotificationSubcode of a NOTIFICATION (PeerDown or Message).
	NotificationCode, NotificationSubcode uint8
	Update                                bgpconv.Update
	// MessageType ("open", "notification"), Direction ("sent", "received") and Length of
	// a Message.
	MessageType, Direction string
	Length                 int
	// Session: what the OPENs of a PeerUp negotiated.
	Session bgpconv.Session
	// NoNotification (PeerDown): the session ended without a NOTIFICATION sent or received
	// (the connection closed or failed).
	NoNotification bool
	// GracefulRestart: both OPENs of the session carried the Graceful Restart capability
	// (RFC 4724) and the peer's names a restart time and at least one negotiated family.
	// On a PeerDown it is set only with NoNotification: the peer is taken to be restarting,
	// its routes are to be kept as stale for RestartTime.
	GracefulRestart bool
	// RestartTime the peer's capability announced (with GracefulRestart).
	RestartTime time.Duration
	// GracefulFamilies: the negotiated families the peer's capability names (schema
	// spelling), each with its Forwarding State bit. With GracefulRestart.
	GracefulFamilies map[string]bool
}
