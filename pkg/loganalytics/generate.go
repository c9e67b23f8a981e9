package loganalytics

// The Azure side (deploy/azure/loganalytics.json) is generated from Tables and the saved
// functions of docs/queries/log-analytics/functions; azure_test.go fails when it drifts.
//go:generate go run ../../cmd/genazure -root ../..
