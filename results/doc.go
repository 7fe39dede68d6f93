// Package results owns what a paylab run measures and leaves behind: the operation history
// (fixed-size records, saved as history.bin), the recorder (HdrHistogram latency per stripe of
// workers, merged; one-second windows keyed by intended send time; figures per phase), the
// run description the lab fills (events, phases, assertion results), and the files written
// from it: summary.json, timeseries.csv, junit.xml and a self-contained report.html. It also
// exposes the lab's own Prometheus metrics.
//
// results depends on no other paylab package: lab/load records into it, assertions read the
// history from it, and cmd/paylab renders its files.
package results
