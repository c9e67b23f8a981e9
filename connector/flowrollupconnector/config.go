package flowrollupconnector

import (
	"errors"
	"fmt"
	"time"
)

// Config of the flowrollup connector.
type Config struct {
	// Interval is the length of a window: records are summed per window of their own time
	// (the flow start), and the sums are emitted every interval.
	Interval time.Duration `mapstructure:"interval"`
	// Dimensions are the attributes the sums are split by, looked up on the record first, then
	// on its resource; an absent attribute is a value of its own (absent).
	Dimensions []string `mapstructure:"dimensions"`
	// MaxSeries caps the rows of one flush; records beyond it are summed into one row marked
	// flow.rollup.overflow=true.
	MaxSeries int `mapstructure:"max_series"`
}

// DefaultDimensions split traffic the way users group it: direction, where it was observed and
// whether that observation point counts it, link, both addresses, server port, transport,
// service and the route class of each side.
var DefaultDimensions = []string{
	"flow.direction", "flow.observation.point", "flow.counted", "flow.link",
	"source.address", "destination.address", "flow.server.port", "network.transport", "flow.service",
	"flow.src.route.class", "flow.dst.route.class",
}

func createDefaultConfig() *Config {
	return &Config{Interval: time.Minute, Dimensions: append([]string(nil), DefaultDimensions...), MaxSeries: 100000}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second || c.Interval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("interval %s: a whole number of seconds, at least 1s", c.Interval))
	}
	if c.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("max_series must be at least 1, got %d", c.MaxSeries))
	}
	if len(c.Dimensions) > 32 {
		errs = append(errs, fmt.Errorf("at most 32 dimensions, got %d", len(c.Dimensions)))
	}
	seen := map[string]bool{}
	for i, d := range c.Dimensions {
		switch {
		case d == "":
			errs = append(errs, fmt.Errorf("dimensions[%d] is empty", i))
		case seen[d]:
			errs = append(errs, fmt.Errorf("dimension %q is listed twice", d))
		}
		seen[d] = true
	}
	return errors.Join(errs...)
}
