package coordination

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rank scores keys by their position in order: the first scores highest.
func rank(order ...string) func(string) uint64 {
	pos := map[string]uint64{}
	for i, k := range order {
		pos[k] = uint64(len(order) - i)
	}
	return func(k string) uint64 { return pos[k] }
}

func TestAssignAlone(t *testing.T) {
	cands := []Candidate{{Key: "a"}, {Key: "b"}, {Key: "c", Done: true}, {Key: "d", Held: true}}
	a := Assign(cands, 1, false, rank("b", "a", "d"))
	assert.Equal(t, 3, a.Share, "every blob with work left, nothing for the blob read to its end")
	assert.Equal(t, []string{"d"}, a.Keep)
	assert.Empty(t, a.GiveUp)
	assert.Equal(t, []string{"b", "a"}, a.Take, "free blobs by score")
}

func TestAssignShareRoundsUp(t *testing.T) {
	cands := []Candidate{{Key: "a"}, {Key: "b"}, {Key: "c"}, {Key: "d"}, {Key: "e"}}
	assert.Equal(t, 2, Assign(cands, 3, false, rank()).Share, "5 blobs among 3 replicas: at most 2 each")
	assert.Equal(t, 5, Assign(cands, 0, false, rank()).Share, "no replica listed: this one counts")
	assert.Equal(t, 0, Assign(nil, 2, false, rank()).Share)
}

func TestAssignGivesUpAboveShare(t *testing.T) {
	// This replica holds four blobs; another replica joined (alive 2) and one blob is
	// leased by it: five blobs with work, share 3. The held blob with the lowest score goes.
	cands := []Candidate{{Key: "a", Held: true}, {Key: "b", Held: true}, {Key: "c", Held: true}, {Key: "d", Held: true}, {Key: "e", Leased: true}}
	a := Assign(cands, 2, false, rank("c", "a", "d", "b"))
	assert.Equal(t, 3, a.Share)
	assert.Equal(t, []string{"c", "a", "d"}, a.Keep)
	assert.Equal(t, []string{"b"}, a.GiveUp)
	assert.Empty(t, a.Take, "a blob leased by another replica is not taken")
}

func TestAssignRejoinedTakesBackItsLeasesFirst(t *testing.T) {
	cands := []Candidate{{Key: "free1"}, {Key: "mine-before"}, {Key: "free2"}}
	cands[1].Leased = true
	a := Assign(cands, 1, true, rank("free2", "free1", "mine-before"))
	assert.Equal(t, []string{"mine-before", "free2", "free1"}, a.Take)
	a = Assign(cands, 1, false, rank("free2", "free1", "mine-before"))
	assert.Equal(t, []string{"free2", "free1"}, a.Take, "not after the first assignment")
	assert.Equal(t, 3, a.Share, "leased blobs count as work either way")
}

// TestAssignReplicasSplitTheBlobs plays three replicas taking turns on one set of leases:
// every blob ends with exactly one replica, none above its share (31 blobs, 3 replicas: 11).
func TestAssignReplicasSplitTheBlobs(t *testing.T) {
	var keys []string
	for i := 0; i < 31; i++ {
		keys = append(keys, fmt.Sprintf("c/y=2026/m=12/d=07/h=%02d/PT1H.json", i))
	}
	replicas := []string{"r1", "r2", "r3"}
	holder := map[string]string{}
	for round := 0; round < 4; round++ {
		for _, id := range replicas {
			c := &Coordinator{id: id}
			var cands []Candidate
			for _, k := range keys {
				cands = append(cands, Candidate{Key: k, Held: holder[k] == id, Leased: holder[k] != "" && holder[k] != id})
			}
			a := Assign(cands, len(replicas), false, c.Score)
			for _, k := range a.GiveUp {
				delete(holder, k)
			}
			n := len(a.Keep)
			for _, k := range a.Take {
				if n >= a.Share {
					break
				}
				require.Empty(t, holder[k], "only free blobs are offered")
				holder[k] = id
				n++
			}
		}
	}
	count := map[string]int{}
	for _, k := range keys {
		require.NotEmpty(t, holder[k], "blob %s read by nobody", k)
		count[holder[k]]++
	}
	var ns []int
	for _, n := range count {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	assert.Equal(t, []int{9, 11, 11}, ns, "the first two fill their shares, the third reads the rest")
}
