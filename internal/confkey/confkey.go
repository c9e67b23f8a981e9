// Package confkey keeps a renamed configuration key working: a configuration that still
// uses the old name is read as if it used the new one, and the component logs a warning.
package confkey

import (
	"fmt"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

// Renamed is a key that changed name: Old is still accepted, New is the name to use.
type Renamed struct{ Old, New string }

// Apply moves the values of the old keys set in conf to their new names and returns the
// renames it made (for Warn). A configuration setting both names of one key is an error.
func Apply(conf *confmap.Conf, keys ...Renamed) ([]Renamed, error) {
	var used []Renamed
	for _, k := range keys {
		if !conf.IsSet(k.Old) {
			continue
		}
		if conf.IsSet(k.New) {
			return nil, fmt.Errorf("%s and %s are one setting (%s is its deprecated name): set %s only", k.New, k.Old, k.Old, k.New)
		}
		v := conf.Get(k.Old)
		conf.Delete(k.Old)
		if err := conf.Merge(confmap.NewFromStringMap(map[string]any{k.New: v})); err != nil {
			return nil, err
		}
		used = append(used, k)
	}
	return used, nil
}

// Warn logs one warning per deprecated name the configuration used.
func Warn(logger *zap.Logger, used []Renamed) {
	for _, k := range used {
		logger.Warn(fmt.Sprintf("the configuration key %s is deprecated: use %s (same meaning); %s will be removed in a later release", k.Old, k.New, k.Old))
	}
}
