package tcpserver

// Reason is why a connection was refused or closed by the server.
type Reason int

// Reasons, exported as the `reason` attribute of the callers' refusal counters.
const (
	NotAllowed      Reason = iota // source outside the allow-list
	ListenerFull                  // MaxConnections open
	SourceFull                    // MaxPerSource open from this address
	IdleTimeout                   // nothing received for IdleTimeout
	MessageTooLarge               // CheckSize refused a length
	TLSHandshake                  // TLS handshake failed or timed out
	FDExhausted                   // accept failed: out of file descriptors
	AcceptError                   // accept failed otherwise
	NumReasons
)

var reasonNames = [NumReasons]string{"not_allowed", "listener_full", "source_full", "idle_timeout",
	"message_too_large", "tls_handshake", "fd_exhausted", "accept_error"}

func (r Reason) String() string {
	if r >= 0 && r < NumReasons {
		return reasonNames[r]
	}
	return "unknown"
}

func (r Reason) message() string {
	switch r {
	case NotAllowed:
		return "connection refused: source not in the allow-list"
	case ListenerFull:
		return "connection refused: listener at its connection limit"
	case SourceFull:
		return "connection refused: source at its per-source connection limit"
	case IdleTimeout:
		return "connection closed: idle timeout"
	case MessageTooLarge:
		return "connection closed: message over the size limit"
	case TLSHandshake:
		return "connection closed: TLS handshake failed"
	case FDExhausted:
		return "accept failed: out of file descriptors; backing off"
	default:
		return "accept failed; backing off"
	}
}
