package flowlog

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// genVNetBlocks deterministically generates the blocks of a realistic VNet
// flow log blob of at least minBytes: head block, one block per record
// (a minute of traffic of a busy NIC), tail block. Concatenated they form
// the PT1H.json document.
func genVNetBlocks(seed uint64, minBytes int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	const sub = "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e"
	flowLogID := "/SUBSCRIPTIONS/" + strings.ToUpper(sub) + "/RESOURCEGROUPS/NETWORKWATCHERRG/PROVIDERS/MICROSOFT.NETWORK/NETWORKWATCHERS/NETWORKWATCHER_WESTEUROPE/FLOWLOGS/VNET-HUB-FLOWLOG"
	target := "/subscriptions/" + sub + "/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub"
	acls := []string{"9b8a7c6d-0000-4e1f-8a2b-1c2d3e4f5a6b", "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b"}
	rules := []string{"DefaultRule_AllowInternetOutBound", "DefaultRule_AllowVnetInBound",
		"DefaultRule_AllowVnetOutBound", "DefaultRule_DenyAllInBound", "UserRule_AllowHttpsIn", "UserRule_AllowSqlFromSpokes"}
	encs := []string{"NX", "NX", "NX", "NX", "X", "NX_HW_NOT_SUPPORTED", "NX_LOCAL_DST"}
	states := []string{"B", "C", "C", "C", "E", "D"}

	blocks := [][]byte{[]byte(`{"records":[`)}
	total := 12
	ts := int64(1715677200000)
	var b []byte
	for rec := 0; total < minBytes; rec++ {
		b = b[:0]
		if rec > 0 {
			b = append(b, ',')
		}
		minute := rec % 60
		b = fmt.Appendf(b, `{"time":"2024-05-14T%02d:%02d:52.%07dZ","flowLogVersion":4,"flowLogGUID":"66aa66aa-bb77-cc88-dd99-00ee00ee00ee","macAddress":"6045BDA2C3D4","category":"FlowLogFlowEvent","flowLogResourceID":"%s","targetResourceID":"%s","operationName":"FlowLogFlowEvent","flowRecords":{"flows":[`,
			9+rec/60, minute, rng.IntN(10000000), flowLogID, target)
		for fi, acl := range acls {
			if fi > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"aclID":"%s","flowGroups":[`, acl)
			ngroups := 1 + rng.IntN(3)
			for gi := 0; gi < ngroups; gi++ {
				if gi > 0 {
					b = append(b, ',')
				}
				b = fmt.Appendf(b, `{"rule":"%s","flowTuples":[`, rules[rng.IntN(len(rules))])
				ntuples := 100 + rng.IntN(250)
				for ti := 0; ti < ntuples; ti++ {
					if ti > 0 {
						b = append(b, ',')
					}
					ts += int64(rng.IntN(200))
					b = append(b, '"')
					b = strconv.AppendInt(b, ts, 10)
					src, dst := genAddr(rng), genAddr(rng)
					state := states[rng.IntN(len(states))]
					dir := "O"
					if rng.IntN(2) == 0 {
						dir = "I"
					}
					proto := []int{6, 6, 6, 17, 17, 1}[rng.IntN(6)]
					b = fmt.Appendf(b, ",%s,%s,%d,%d,%d,%s,%s,%s", src, dst, 1024+rng.IntN(64000),
						[]int{443, 80, 53, 1433, 22, 3389, 8443}[rng.IntN(7)], proto, dir, state, encs[rng.IntN(len(encs))])
					switch {
					case state == "B" || state == "D":
						if rng.IntN(2) == 0 {
							b = append(b, ",0,0,0,0"...)
						} else {
							b = append(b, ",,,,"...)
						}
					default:
						p1, p2 := 1+rng.IntN(5000), 1+rng.IntN(5000)
						b = fmt.Appendf(b, ",%d,%d,%d,%d", p1, p1*(60+rng.IntN(1400)), p2, p2*(60+rng.IntN(1400)))
					}
					b = append(b, '"')
				}
				b = append(b, "]}"...)
			}
			b = append(b, "]}"...)
		}
		b = append(b, "]}}"...)
		blocks = append(blocks, append([]byte(nil), b...))
		total += len(b)
	}
	return append(blocks, []byte("]}"))
}

func genAddr(rng *rand.Rand) string {
	switch rng.IntN(20) {
	case 0:
		return fmt.Sprintf("2001:db8:%x:%x::%x", rng.IntN(65536), rng.IntN(65536), rng.IntN(65536))
	case 1, 2, 3, 4, 5:
		return fmt.Sprintf("%d.%d.%d.%d", 20+rng.IntN(180), rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	}
	return fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(16), 1+rng.IntN(254))
}

func joinBlocks(blocks [][]byte) []byte {
	var out []byte
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}
