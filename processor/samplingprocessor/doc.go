//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml

// Package samplingprocessor rescales sampled flow counts by their sampling rate and tags
// each flow record with its direction relative to Azure, hairpin, client and server,
// service, link and class (docs/schema.md). The work is done by internal/classify; this
// package reads and writes log attributes and owns configuration and telemetry.
package samplingprocessor // import "github.com/erviz/otelcol-erviz/processor/samplingprocessor"
