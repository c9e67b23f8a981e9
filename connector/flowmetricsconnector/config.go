package flowmetricsconnector

import (
	"errors"
	"fmt"
	"time"

	"github.com/erviz/otelcol-erviz/internal/schema"
)

// Config of the flowmetrics connector.
type Config struct {
	// Interval between emissions of the delta sums.
	Interval time.Duration `mapstructure:"interval"`
	// Dimensions are the attributes the sums are split by, looked up on the log record first,
	// then on its resource. An absent attribute is left out of the data point.
	Dimensions []string `mapstructure:"dimensions"`
	// MaxSeries caps the distinct dimension combinations per interval; records beyond it go to
	// one series marked otel.metric.overflow=true.
	MaxSeries int `mapstructure:"max_series"`
	// CountedOnly: the sums add only records the sampling processor marked flow.counted=true
	// (or that carry no flow.counted); false adds every observation.
	CountedOnly bool `mapstructure:"counted_only"`
	// ObservationMetrics emits flow.observation.io.bytes/packets: every record, counted or
	// not, by flow.observation.point and flow.observation.kind.
	ObservationMetrics bool `mapstructure:"observation_metrics"`
}

// DefaultDimensions split traffic the way the users' dashboards do.
var DefaultDimensions = []string{
	schema.FlowDirection, schema.FlowLink, schema.FlowClass, schema.FlowService,
	schema.FlowExporterAddress, schema.CloudResourceID,
	// Routing (sampling processor with routing.source): the class of the route the traffic
	// rides and the open condition of its destination prefix ("traffic at risk"). Both have a
	// handful of values and follow the direction and link, so they add few series (BENCHMARKS.md);
	// records without routing carry neither and keep their series.
	schema.FlowDstRouteClass, schema.FlowRouteCondition,
}

func createDefaultConfig() *Config {
	return &Config{
		Interval:   60 * time.Second,
		Dimensions: append([]string(nil), DefaultDimensions...),
		MaxSeries:  10000,

		CountedOnly:        true,
		ObservationMetrics: true,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, fmt.Errorf("interval %s is below 1s", c.Interval))
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
