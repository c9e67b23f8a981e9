module github.com/erviz/otelcol-erviz/bench

go 1.26.0

require github.com/erviz/otelcol-erviz v0.0.0

require golang.org/x/sys v0.47.0

require (
	github.com/netsampler/goflow2/v2 v2.2.6
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/erviz/otelcol-erviz => ../
