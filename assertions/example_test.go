package assertions_test

import (
	"fmt"
	"strings"
	"time"

	"paylab/assertions"
	"paylab/outcome"
	"paylab/results"
)

// The lab's side of a run: parse each node's export, describe the run, build a checker for
// each assertion of the scenario, and check them all.
func ExampleCheckAll() {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hist := results.NewHistory(start, 1000)
	hist.Add(results.Op{OpDetail: results.OpDetail{Type: results.OpTransfer, Key: 1, From: 0, To: 1, Amount: 100},
		Seq: 1, Sent: 10 * time.Millisecond, Done: 15 * time.Millisecond, Kind: outcome.OK}, "")

	export := `{"type":"header","header":{"node":"ledger:us-east/a","applied_index":3,"state_hash":"9f2c"}}
{"type":"account","account":{"id":"acc-0","balance":900,"version":1,"initial":1000}}
{"type":"account","account":{"id":"acc-1","balance":1100,"version":1,"initial":1000}}
{"type":"transfer","transfer":{"id":"t0000000000000001","from":"acc-0","to":"acc-1","amount":100,"status":"committed","index":3}}
{"type":"trailer","trailer":{"accounts":2,"transfers":1,"writes":0,"lines_sha256":"6dd6cb9e252c07659cf79ac9d1be8a1cba6e07a3723f798818940d66f8b003ab"}}
`
	replica, err := assertions.ReadReplica(strings.NewReader(export)) // the body of GET /v1/export
	if err != nil {
		replica = assertions.Replica{Node: "ledger:us-east/a", Err: err}
	}
	replica.Live = true

	in := &assertions.Input{
		Start:    start,
		Accounts: assertions.Accounts{Count: 2, Balance: 1000},
		History:  hist,
		Replicas: []assertions.Replica{replica},
		Nodes:    []string{"ledger:us-east/a"}, // the topology's ledger nodes: one not in Replicas makes the money checks unknown
		// The lab also fills Total, Windows, Phases, PhaseFigures, Spans (the recorder),
		// Events, and TransferID (the workload's).
	}
	specs := []struct {
		name   string
		params map[string]any
	}{
		{"no_double_deduct", nil},
		{"conservation", nil},
		{"no_lost_ack", nil},
		{"replicas_converge", map[string]any{"within": "5s"}},
	}
	var checkers []assertions.Checker
	for _, s := range specs {
		c, err := assertions.New(s.name, s.params) // scenario validation reports err with the spec's position
		if err != nil {
			fmt.Println(err)
			return
		}
		checkers = append(checkers, c)
	}
	res, verdict := assertions.CheckAll(in, checkers)
	for _, r := range res {
		fmt.Printf("%s: %s (%s)\n", r.Name, r.Verdict, r.Observed)
	}
	fmt.Println("run:", verdict)
	// Output:
	// no_double_deduct: pass (0 keys with more than one entry, 0 payments charged more than once, 0 wrong bodies, 0 orphans, 0 lost updates, 0 balances off their journal over 1 replicas)
	// conservation: pass (sum ledger:us-east/a 2000)
	// no_lost_ack: pass (0 of 1 acknowledged commits missing, 0 committed with another body, 0 of 0 rejected or failed committed, 0 contradictory acks; unknown outcomes: 0 committed, 0 rejected, 0 absent)
	// replicas_converge: pass (1 distinct states among 1 live replicas of 1 expected)
	// run: pass
}
