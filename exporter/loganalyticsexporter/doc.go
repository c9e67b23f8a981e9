// Package loganalyticsexporter sends otelcol-erviz flow records, flow rollups and routing
// events to typed Log Analytics custom tables through the Azure Monitor Logs Ingestion API
// (data collection rules). It is a thin adapter over pkg/loganalytics.
//
//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml
package loganalyticsexporter
