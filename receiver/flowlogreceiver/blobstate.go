package flowlogreceiver

import "time"

// blobState is what the receiver knows of one blob (or file) it reads.
type blobState struct {
	// cp is the blob's checkpoint; known is false until one was loaded, taken over with the
	// blob's lease or written.
	cp    checkpoint
	known bool
	// idPrefix is the base of the log.record.uid of the blob's records.
	idPrefix string
	// retryAt is when a blob whose read failed is read again (zero: now), after failures
	// failed reads in a row.
	retryAt  time.Time
	failures int
	// dirty: the last write of cp failed (coordination); it is written again before the blob
	// is given up.
	dirty bool
}

// blob returns the state of a blob, created empty when it is new.
func (r *flowlogReceiver) blob(key string) *blobState {
	b := r.blobs[key]
	if b == nil {
		b = &blobState{}
		r.blobs[key] = b
	}
	return b
}

// checkpointed returns a blob's checkpoint and whether it has one.
func (r *flowlogReceiver) checkpointed(key string) (checkpoint, bool) {
	if b := r.blobs[key]; b != nil && b.known {
		return b.cp, true
	}
	return checkpoint{}, false
}

// checkpointKeys returns the keys of the blobs that have a checkpoint.
func (r *flowlogReceiver) checkpointKeys() []string {
	keys := make([]string, 0, len(r.blobs))
	for k, b := range r.blobs {
		if b.known {
			keys = append(keys, k)
		}
	}
	return keys
}

// forgetLocal forgets what this replica knows of a blob (its lease was given up or lost).
func (r *flowlogReceiver) forgetLocal(key string) {
	delete(r.blobs, key)
	r.stats.forget(key)
}
