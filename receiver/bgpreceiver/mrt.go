package bgpreceiver

import "errors"

// mrtReader will follow MRT message logs (RFC 6396); until it lands, mrt.include is refused
// at start so that a configuration never silently reads nothing.
type mrtReader struct{}

func startMRT(*bgpReceiver, MRTConfig) (*mrtReader, error) {
	return nil, errors.New("mrt: the MRT reader is not available in this build yet")
}

func (*mrtReader) stop() {}
