// Package flowrollupconnector sums flow records per interval and dimensions into rollup log
// records (one per window and combination), the cheap way to keep flows in a pay-per-GB store
// such as Log Analytics. It is a thin adapter over pkg/flowrollup.
//
//go:generate ../../bin/mdatagen-v0.158.0 metadata.yaml
package flowrollupconnector
