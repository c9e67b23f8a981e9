package schema

// Attributes of the rollup records of the flowrollup connector (besides the dimensions and the
// summed counters, which keep the names of the flow records).
const (
	// FlowRollupFlows is the number of flow records summed into a rollup record; its presence
	// marks a rollup record.
	FlowRollupFlows = "flow.rollup.flows"
	// FlowRollupInterval is the length, in seconds, of the window a rollup record sums.
	FlowRollupInterval = "flow.rollup.interval"
	// FlowRollupOverflow is true on the rollup record that sums the records beyond max_series.
	FlowRollupOverflow = "flow.rollup.overflow"
)
