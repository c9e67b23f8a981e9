package confkey

import (
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

type cfg struct {
	CollectionInterval time.Duration `mapstructure:"collection_interval"`
	Other              string        `mapstructure:"other"`
}

var interval = Renamed{Old: "metrics_interval", New: "collection_interval"}

func decode(t *testing.T, raw map[string]any) (cfg, []Renamed, error) {
	t.Helper()
	conf := confmap.NewFromStringMap(raw)
	c := cfg{CollectionInterval: time.Minute}
	used, err := Apply(conf, interval)
	if err != nil {
		return c, nil, err
	}
	if err := conf.Unmarshal(&c); err != nil {
		t.Fatalf("unmarshal after the rename: %v", err)
	}
	return c, used, nil
}

func TestOldNameIsReadAsTheNewOne(t *testing.T) {
	c, used, err := decode(t, map[string]any{"metrics_interval": "5s", "other": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if c.CollectionInterval != 5*time.Second || c.Other != "x" {
		t.Fatalf("got %+v", c)
	}
	if len(used) != 1 || used[0] != interval {
		t.Fatalf("used %v", used)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	Warn(zap.New(core), used)
	if logs.Len() != 1 || !strings.Contains(logs.All()[0].Message, "metrics_interval is deprecated: use collection_interval") {
		t.Fatalf("warning: %v", logs.All())
	}
}

func TestNewNameAloneWarnsNothing(t *testing.T) {
	c, used, err := decode(t, map[string]any{"collection_interval": "7s"})
	if err != nil || len(used) != 0 || c.CollectionInterval != 7*time.Second {
		t.Fatalf("c=%+v used=%v err=%v", c, used, err)
	}
	c, used, err = decode(t, map[string]any{})
	if err != nil || len(used) != 0 || c.CollectionInterval != time.Minute {
		t.Fatalf("default: c=%+v used=%v err=%v", c, used, err)
	}
}

func TestBothNamesIsAnError(t *testing.T) {
	_, _, err := decode(t, map[string]any{"collection_interval": "7s", "metrics_interval": "5s"})
	if err == nil || !strings.Contains(err.Error(), "set collection_interval only") {
		t.Fatalf("err = %v", err)
	}
}
