package load_test

import (
	"context"
	"fmt"
	"time"

	"paylab/lab/load"
	"paylab/outcome"
)

// A benchmark plugs its own operation into the generator: here each request "carries" a batch
// of 4 items. Latency counts from each request's intended send time. MaxRequests ends this run
// after 100 requests (0.1 s at 1,000/s), so what it prints does not depend on the machine's
// speed; the latency figures and Report.Limited do, and belong in a benchmark.
func ExampleRun() {
	op := func(ctx context.Context, seq uint64, worker int) load.Outcome {
		// Call the system under test here; honour ctx (it carries the per-request timeout).
		return load.Outcome{Kind: outcome.OK, Items: 4}
	}
	cfg := load.DefaultConfig()
	cfg.Pacer = load.ConstantPacer{Rate: 1000}
	cfg.Duration = time.Minute
	cfg.MaxRequests = 100
	rep, err := load.Run(context.Background(), cfg, op)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent", rep.Requests, "due", rep.Due, "items", rep.Items, "missed", rep.Missed, "ok", rep.OK)
	// Output:
	// sent 100 due 100 items 400 missed 0 ok 100
}
