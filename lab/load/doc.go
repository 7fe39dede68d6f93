// Package load owns paylab's one load generator: pacing (open model: constant, ramp, steps;
// closed model: N clients), the bounded worker pool that grows with rate × latency, and the
// measurement of every request from its intended send time, so a stalled target shows in the
// tail instead of silently slowing the generator down (no coordinated omission). Sends that
// could not be made on time are counted, never dropped.
//
// The generator calls an OpFunc per request and knows nothing of payments; the workload layer
// (transfers and reads, uniform or Zipf accounts, duplicate resubmissions, client regions)
// builds OpFuncs on top of it. Figures go to a results.Recorder and, optionally, every
// operation to a results.History.
package load
