package coordination

import "sort"

// Candidate is one listed source blob as this replica sees it when it decides its share.
type Candidate struct {
	Key string
	// Held: this replica holds the blob's ownership lease (and still has work in it).
	Held bool
	// Leased: the ownership blob is leased by another replica (or by this replica before a
	// restart with the same replica_id).
	Leased bool
	// Done: nobody holds it and its ownership blob's checkpoint says it was read to the end
	// of the version listed now: there is nothing to read.
	Done bool
}

// Assignment is what one replica does with the listed blobs in one poll.
type Assignment struct {
	// Share is how many blobs this replica reads at most: the blobs with work left divided
	// evenly among the running replicas, rounded up.
	Share int
	// Keep are held blobs this replica goes on reading.
	Keep []string
	// GiveUp are held blobs above the share, to release (once their checkpoints are written;
	// one that cannot be given up is kept).
	GiveUp []string
	// Take are blobs to try to lease, in order, while this replica holds fewer than Share.
	Take []string
}

// Assign decides a replica's share of the listed blobs (pure: no I/O). alive is the number
// of running replicas (at least 1); rejoined is true at the first assignment after this
// replica (re)claimed its replica_id, when the leases it held before a restart are taken back
// first; score orders blobs for this replica (rendezvous hashing, see Coordinator.Score):
// every replica prefers a different part of the blobs, which keeps them from contending for
// the same leases.
func Assign(cands []Candidate, alive int, rejoined bool, score func(key string) uint64) Assignment {
	alive = max(alive, 1)
	var mine, free, mayBeMine []string
	work := 0
	for _, c := range cands {
		switch {
		case c.Held:
			work++
			mine = append(mine, c.Key)
		case c.Leased:
			work++
			if rejoined {
				mayBeMine = append(mayBeMine, c.Key)
			}
		case c.Done:
		default:
			work++
			free = append(free, c.Key)
		}
	}
	byScore := func(keys []string) {
		sort.SliceStable(keys, func(i, j int) bool { return score(keys[i]) > score(keys[j]) })
	}
	a := Assignment{Share: (work + alive - 1) / alive}
	if len(mine) > a.Share {
		byScore(mine)
		a.GiveUp = mine[a.Share:]
		mine = mine[:a.Share]
	}
	a.Keep = mine
	byScore(free)
	// After a restart with the same replica_id, take back the leases of the previous run
	// first (an acquire with the same lease ID succeeds; one held by another replica fails).
	a.Take = append(mayBeMine, free...)
	return a
}
