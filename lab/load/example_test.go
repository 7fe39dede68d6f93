package load_test

import (
	"context"
	"fmt"
	"time"

	"paylab/lab/load"
)

// A benchmark plugs its own operation into the generator: here each request "carries" a batch
// of 4 items. Latency counts from each request's intended send time.
func ExampleRun() {
	op := func(ctx context.Context, seq uint64, worker int) load.Outcome {
		// Call the system under test here; honour ctx (it carries the per-request timeout).
		return load.Outcome{Kind: load.OK, Items: 4}
	}
	cfg := load.DefaultConfig()
	cfg.Pacer = load.ConstantPacer{Rate: 1000}
	cfg.Duration = 100 * time.Millisecond
	rep, err := load.Run(context.Background(), cfg, op)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("sent", rep.Requests, "items", rep.Items, "missed", rep.Missed, "ok", rep.OK)
	fmt.Println("p99 below a second:", rep.P99() < time.Second, "generator limited:", rep.Limited)
	// Output:
	// sent 100 items 400 missed 0 ok 100
	// p99 below a second: true generator limited: false
}
