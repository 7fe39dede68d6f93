package assertions_test

import (
	"errors"
	"strings"
	"testing"

	"paylab/assertions"
	"paylab/results"
)

// The checkers that read replicas: the money checkers and replicas_converge.
var replicaCheckers = []struct {
	name   string
	params map[string]any
}{
	{"no_double_deduct", nil},
	{"conservation", nil},
	{"no_negative_balance", nil},
	{"no_lost_ack", nil},
	{"replicas_converge", map[string]any{"within": "5s"}},
}

var threeNodes = []string{"ledger:a", "ledger:b", "ledger:c"}

// Issue 10, behaviour 7 (a): a replica whose journal lacks a transfer, but which reports the
// right state hash, passed replicas_converge, which compared the hashes the nodes report of
// themselves. The exports are compared now: it fails, naming the node and the transfer.
func TestBehaviour7AReplicaMissingATransferWithTheRightHashFails(t *testing.T) {
	reps := cleanReplicas()
	delete(reps[2].Transfers, tid(2)) // the journal lacks t2; balances and hash as the others
	in := input(cleanHistory(t), reps...)
	in.Nodes = threeNodes
	res := mustNew(t, "replicas_converge", map[string]any{"within": "5s"}).Check(in)
	expect(t, res, results.Fail, "2 distinct states among 3 live replicas of 3 expected",
		"transfer "+tid(2)+": absent on ledger:c (committed at index 6 on ledger:a)")
	// The money checker sees it too, from the replica's own journal.
	expect(t, mustNew(t, "no_double_deduct", nil).Check(in), results.Fail, "acc-1: balance 1050, opening 1000 + journal +100 = 1100", "on ledger:c")
}

// Issue 10, behaviour 7 (b): with 1 of 3 nodes live, no_lost_ack and replicas_converge passed
// without naming the dead ones. Every checker that reads replicas is unknown now, naming them.
func TestBehaviour7OneOfThreeNodesLiveIsUnknownNamingTheDeadOnes(t *testing.T) {
	reps := []assertions.Replica{
		cleanReplicas()[0],
		{Node: "ledger:b", Err: errString("node is down")},
		{Node: "ledger:c", Err: errString("node is down")},
	}
	in := input(cleanHistory(t), reps...)
	in.Nodes = threeNodes
	for _, c := range replicaCheckers {
		t.Run(c.name, func(t *testing.T) {
			expect(t, mustNew(t, c.name, c.params).Check(in), results.Undecided, "ledger:b: node is down", "ledger:c: node is down")
		})
	}
}

// Issue 10, behaviour 7 (c): a replica left out of the input was invisible. With the expected
// node set, every checker that reads replicas is unknown, naming it.
func TestBehaviour7AReplicaLeftOutOfTheInputIsNamed(t *testing.T) {
	in := input(cleanHistory(t), cleanReplicas()[:2]...)
	for _, c := range replicaCheckers {
		if res := mustNew(t, c.name, c.params).Check(in); res.Verdict != results.Pass {
			t.Fatalf("%s without an expected node set: %s %s (the two replicas given are healthy)", c.name, res.Verdict, res.Error)
		}
	}
	in.Nodes = threeNodes
	for _, c := range replicaCheckers {
		t.Run(c.name, func(t *testing.T) {
			expect(t, mustNew(t, c.name, c.params).Check(in), results.Undecided, "ledger:c: no replica in the input")
		})
	}
}

// Issue 10, behaviour 8: an export cut at a line boundary parsed as a valid replica and the
// checkers judged the part as the whole. ReadReplica refuses it now, the replica is
// unreadable, and every checker that reads replicas is unknown, naming it and why.
func TestBehaviour8AnExportCutAtALineBoundaryIsUnknownNeverAPass(t *testing.T) {
	whole := seal(export)
	lines := strings.SplitAfter(whole, "\n")
	cut := strings.Join(lines[:4], "") // header, two accounts, t-1: t-2, the write and the trailer lost
	_, err := assertions.ReadReplica(strings.NewReader(cut))
	if !errors.Is(err, assertions.ErrNoTrailer) {
		t.Fatalf("cut export: %v, want ErrNoTrailer", err)
	}
	rep := assertions.Replica{Node: "ledger:c", Live: true, Err: err} // as the lab records an export it could not read
	in := input(cleanHistory(t), cleanReplicas()[0], cleanReplicas()[1], rep)
	in.Nodes = threeNodes
	for _, c := range replicaCheckers {
		t.Run(c.name, func(t *testing.T) {
			expect(t, mustNew(t, c.name, c.params).Check(in), results.Undecided, "ledger:c: read replica export", "no trailer")
		})
	}
}

// With no replica at all, the checkers that read replicas are skipped as unknown, naming every
// expected node.
func TestNoReplicaAtAllNamesEveryExpectedNode(t *testing.T) {
	in := input(cleanHistory(t))
	in.Nodes = threeNodes
	res, _ := assertions.CheckAll(in, []assertions.Checker{mustNew(t, "conservation", nil)})
	expect(t, res[0], results.Undecided, "no replica could be read", "ledger:a: no replica in the input", "ledger:c: no replica in the input")
}

// Blind writes carry optional fields (old version, read balance and version) as pointers; two replicas'
// equal journals were called different because == compared the pointers (seen in a naive-lock run: "3
// distinct states among 3" with every field equal). Equal writes converge; a write that differs in one
// optional field still fails.
func TestEqualBlindWritesOnEveryReplicaConverge(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	i := func(v int64) *int64 { return &v }
	write := func() assertions.Write {
		return assertions.Write{Payment: "p1", Account: "acc-1", Old: 1000, New: 990, Index: 9, OldVersion: u(3), ReadBalance: i(1000), ReadVersion: u(3)}
	}
	reps := cleanReplicas()
	for k := range reps {
		reps[k].Writes = append(reps[k].Writes, write()) // each replica its own pointers, as decoded exports are
	}
	in := input(cleanHistory(t), reps...)
	in.Nodes = threeNodes
	if res := mustNew(t, "replicas_converge", map[string]any{"within": "5s"}).Check(in); res.Verdict != results.Pass {
		t.Fatalf("equal blind writes on every replica: %v %s %v", res.Verdict, res.Observed, res.Evidence)
	}
	reps[2].Writes[len(reps[2].Writes)-1].ReadVersion = u(2)
	expect(t, mustNew(t, "replicas_converge", map[string]any{"within": "5s"}).Check(in), results.Fail, "read version 2 on ledger:c")
}
