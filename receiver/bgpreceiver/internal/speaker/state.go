package speaker

import (
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// State is a session state of RFC 4271 section 8 (GoBGP's names for them).
type State = bgp.FSMState

// Session states.
const (
	StateIdle        = bgp.BGP_FSM_IDLE
	StateConnect     = bgp.BGP_FSM_CONNECT
	StateActive      = bgp.BGP_FSM_ACTIVE
	StateOpenSent    = bgp.BGP_FSM_OPENSENT
	StateOpenConfirm = bgp.BGP_FSM_OPENCONFIRM
	StateEstablished = bgp.BGP_FSM_ESTABLISHED
)

// StateName is the spelling of a state in records and metrics (bgp.session.state).
func StateName(s State) string {
	switch s {
	case StateConnect:
		return event.StateConnect
	case StateActive:
		return event.StateActive
	case StateOpenSent:
		return event.StateOpenSent
	case StateOpenConfirm:
		return event.StateOpenConfirm
	case StateEstablished:
		return event.StateEstablished
	}
	return event.StateIdle
}
