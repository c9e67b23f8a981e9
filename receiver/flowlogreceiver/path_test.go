package flowlogreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTail(t *testing.T) {
	good := map[string]pathTail{
		"insights-logs-flowlogflowevent/flowLogResourceID=/SUB_NETWORKWATCHERRG/NETWORKWATCHER_WESTEUROPE_FL/y=2025/m=06/d=02/h=09/m=00/macAddress=000D3A2B1001/PT1H.json": {time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC), "000D3A2B1001"},
		"resourceId=/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG/y=2024/m=12/d=31/h=23/m=00/macAddress=6045bda2c3d4/PT1H.json": {time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC), "6045BDA2C3D4"},
		"y=2024/m=02/d=29/h=00/m=00/macAddress=000000000000/PT1H.json": {time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), "000000000000"},
	}
	for p, want := range good {
		got, ok := parseTail(p)
		require.True(t, ok, p)
		assert.Equal(t, want, got, p)
	}
	bad := []string{
		"",
		"PT1H.json",
		"xy=2024/m=02/d=29/h=00/m=00/macAddress=000000000000/PT1H.json",
		"a/y=2023/m=02/d=29/h=00/m=00/macAddress=000000000000/PT1H.json", // not a leap year
		"a/y=2024/m=13/d=01/h=00/m=00/macAddress=000000000000/PT1H.json",
		"a/y=2024/m=01/d=01/h=24/m=00/macAddress=000000000000/PT1H.json",
		"a/y=2024/m=01/d=01/h=01/m=05/macAddress=000000000000/PT1H.json",
		"a/y=2024/m=01/d=01/h=01/m=00/macAddress=00000000000G/PT1H.json",
		"a/y=2024/m=01/d=01/h=01/m=00/macAddress=000000000000/PT1H.jsonx",
		"a/y=2024/m=01/d=01/h=01/m=00/macAddress=000000000000/PT1M.json",
		"a/y=2O24/m=01/d=01/h=01/m=00/macAddress=000000000000/PT1H.json",
	}
	for _, p := range bad {
		_, ok := parseTail(p)
		assert.False(t, ok, p)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	cps := []checkpoint{{}, {Offset: 12}, {Offset: 1 << 40, BlockID: "MDAwMDE=", ETag: `"0x8DC"`, AtEnd: true}}
	for _, cp := range cps {
		got, err := decodeCheckpoint(encodeCheckpoint(cp))
		require.NoError(t, err)
		assert.Equal(t, cp, got)
	}
	for _, b := range []string{"", "{}", `{"v":2,"o":1}`, `{"v":1,"o":-1}`, `[1]`, `{"v":1,"o":"x"}`} {
		_, err := decodeCheckpoint([]byte(b))
		assert.Error(t, err, b)
	}
	keys, err := decodeIndex(encodeIndex([]string{"a/b", "c"}))
	require.NoError(t, err)
	assert.Equal(t, []string{"a/b", "c"}, keys)
}
