//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package flowmetricsconnector turns flow log records (tagged by the sampling processor) into
// delta Sum metrics of bytes and packets per configurable dimensions, emitted every interval,
// with a cap on the number of series. The aggregation is internal/aggregate; this package
// owns configuration, lifecycle and telemetry.
package flowmetricsconnector // import "github.com/erviz/otelcol-erviz/connector/flowmetricsconnector"
