package flowlogreceiver

import (
	"encoding/json"
	"errors"
	"fmt"
)

// checkpoint is what the receiver remembers of one blob or file, written to the storage
// extension only after the logs consumer accepted everything before Offset.
type checkpoint struct {
	// Offset is the byte offset, in the blob, of the first byte not yet read: the end of the
	// last data block read (blobs) or of the last complete record (files). The 2-byte tail
	// `]}` is never counted, since new data is inserted before it.
	Offset int64 `json:"o"`
	// BlockID is the ID of the committed block that ends at Offset (blobs only; base64 as
	// returned by the service). It detects a rewritten block list.
	BlockID string `json:"b,omitempty"`
	// ETag is the version of the blob (blobs) or "size:mtime" (files) that was read up to
	// its end. A listing with the same ETag means there is nothing new.
	ETag string `json:"e,omitempty"`
	// AtEnd is true when everything of ETag before the tail was read.
	AtEnd bool `json:"a,omitempty"`
	// Skip is true when Offset is inside a record larger than max_record_size: reading goes
	// on by searching for the next record start, not by parsing.
	Skip bool `json:"s,omitempty"`
}

const checkpointVersion = 1

type checkpointJSON struct {
	V int `json:"v"`
	checkpoint
}

func encodeCheckpoint(c checkpoint) []byte {
	b, _ := json.Marshal(checkpointJSON{V: checkpointVersion, checkpoint: c})
	return b
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var cj checkpointJSON
	if err := json.Unmarshal(b, &cj); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if cj.V != checkpointVersion {
		return checkpoint{}, fmt.Errorf("checkpoint: unknown version %d", cj.V)
	}
	if cj.Offset < 0 {
		return checkpoint{}, errors.New("checkpoint: negative offset")
	}
	return cj.checkpoint, nil
}

// Storage keys. Every blob has its own key so that a batch writes a few hundred bytes;
// the index lists the keys so that checkpoints of blobs that disappeared can be removed.
const (
	storageIndexKey = "flowlog.index.v1"
	storageCPPrefix = "flowlog.cp.v1/"
)

func encodeIndex(keys []string) []byte {
	b, _ := json.Marshal(keys)
	return b
}

func decodeIndex(b []byte) ([]string, error) {
	var keys []string
	if err := json.Unmarshal(b, &keys); err != nil {
		return nil, fmt.Errorf("checkpoint index: %w", err)
	}
	return keys, nil
}
