package schema

// Metrics of the flowlog receiver, one data point per target resource (cloud.resource_id).
const (
	// FlowLogTuples counts the flow tuples read (cumulative sum).
	FlowLogTuples = "flowlog.tuples"
	// FlowLogBytesRead counts the bytes downloaded from the flow log blobs (cumulative sum).
	FlowLogBytesRead = "flowlog.bytes_read"
	// FlowLogBlobs is the number of flow log blobs tracked (gauge).
	FlowLogBlobs = "flowlog.blobs"
	// FlowLogLag is the age of the newest tuple read, in seconds (gauge).
	FlowLogLag = "flowlog.lag"
	// FlowLogErrors counts problems by kind (cumulative sum, attribute error.type).
	FlowLogErrors = "flowlog.errors"
	// ErrorType is the kind of a counted problem (OTel semantic convention attribute).
	ErrorType = "error.type"
)
