package flowlogreceiver

import (
	"fmt"
	"testing"
	"time"
)

func FuzzParseTail(f *testing.F) {
	f.Add("insights-logs-flowlogflowevent/flowLogResourceID=/S_NETWORKWATCHERRG/NETWORKWATCHER_R_F/y=2025/m=06/d=02/h=09/m=00/macAddress=000D3A2B1001/PT1H.json")
	f.Add("y=2024/m=02/d=30/h=00/m=00/macAddress=000000000000/PT1H.json")
	f.Add("a/y=2024/m=01/d=01/h=01/m=00/macAddress=abcdefABCDEF/PT1H.json")
	f.Add("/PT1H.json")
	f.Fuzz(func(t *testing.T, p string) {
		got, ok := parseTail(p)
		if !ok {
			return
		}
		// What was accepted must be exactly the canonical tail of that hour and MAC.
		want := fmt.Sprintf("y=%04d/m=%02d/d=%02d/h=%02d/m=00/macAddress=%s/PT1H.json",
			got.Hour.Year(), int(got.Hour.Month()), got.Hour.Day(), got.Hour.Hour(), got.MAC)
		tail := p[len(p)-tailLen:]
		if len(want) != tailLen || !equalFoldMAC(tail, want) {
			t.Fatalf("parseTail(%q) = %+v, canonical %q", p, got, want)
		}
		if got.Hour.Location() != time.UTC || got.Hour.Minute() != 0 {
			t.Fatalf("hour %v not a UTC hour", got.Hour)
		}
	})
}

// equalFoldMAC compares two tails, ignoring the case of the MAC digits only.
func equalFoldMAC(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if i >= 38 && i < 50 && x >= 'a' && x <= 'f' {
			x -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func FuzzDecodeCheckpoint(f *testing.F) {
	f.Add([]byte(`{"v":1,"o":12,"b":"MDAwMDE=","e":"\"0x8DC\"","a":true}`))
	f.Add([]byte(`{"v":1,"o":0}`))
	f.Add([]byte(`{"v":1,"o":-5}`))
	f.Add([]byte(`garbage`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := decodeCheckpoint(b)
		if err != nil {
			return
		}
		if cp.Offset < 0 {
			t.Fatalf("negative offset accepted: %+v", cp)
		}
		again, err := decodeCheckpoint(encodeCheckpoint(cp))
		if err != nil || again != cp {
			t.Fatalf("round trip: %+v -> %+v, %v", cp, again, err)
		}
	})
}
