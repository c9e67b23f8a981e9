package listener

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// IPFIX over TCP (RFC 7011 section 10.4) is a stream of messages, each carrying its length
// in the header; the receiver serves it on internal/tcpserver and frames it with
// ReadMessage. NetFlow v9 has no length field and is UDP only.

// FramingError is a stream that does not carry IPFIX messages.
type FramingError struct{ Reason string }

func (e *FramingError) Error() string { return "ipfix over tcp: " + e.Reason }

// ReadMessage reads one IPFIX message from a stream into buf (at least 65535 bytes) and
// returns it. io.EOF at a message boundary is a clean end.
func ReadMessage(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	version := binary.BigEndian.Uint16(buf[0:2])
	length := int(binary.BigEndian.Uint16(buf[2:4]))
	if version != 10 {
		return nil, &FramingError{fmt.Sprintf("version %d (only IPFIX, version 10, runs over TCP)", version)}
	}
	if length < 16 {
		return nil, &FramingError{fmt.Sprintf("message length %d is shorter than the 16-byte header", length)}
	}
	if _, err := io.ReadFull(r, buf[4:length]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf[:length], nil
}
