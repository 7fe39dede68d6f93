package assertions

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"paylab/results"
)

func buildConverge(p *params) (checkFunc, error) {
	within := p.duration("within")
	return func(v *view) results.AssertionResult { return checkConverge(v, within.String()) }, nil
}

// checkConverge compares the parsed exports of the replicas record by record — every account
// (balance, version, opening balance), every transfer (its whole body, status and index),
// every blind write in journal order — not the hashes the nodes report of themselves, which a
// replica whose journal lacks a transfer could still get right. The lab restarts every node a
// fault left down and waits up to `within` for the replicas to meet before it exports them, so a
// difference here is a replica that never caught up or one that applied something else.
//
// Every expected replica must take part: one that is down, unreadable or absent from the input
// makes a pass unknown, naming it. Replicas are grouped by equal exports; the largest group
// (ties: the highest applied index) is the reference, and the evidence names the first records
// where each other group differs from it. Equal exports with different state hashes fail too:
// the state the export leaves out (fence tokens) differs. Time and memory are linear in the
// exports, apart from sorting ids when they differ.
func checkConverge(v *view, within string) results.AssertionResult {
	readable, unreadable := v.readable()
	var live []*Replica
	for _, r := range readable {
		if r.Live {
			live = append(live, r)
		} else {
			unreadable = append(unreadable, nodeName(r)+": down at the end of the run (not restarted)")
		}
	}
	groups := exportGroups(live)
	res := results.AssertionResult{
		Observed: fmt.Sprintf("%d distinct states among %d live replicas", len(groups), len(live)),
		Limit:    "equal exports (accounts, transfers, writes) on every replica within " + within,
	}
	if len(v.in.Nodes) > 0 {
		res.Observed += fmt.Sprintf(" of %d expected", len(v.in.Nodes))
	}
	switch {
	case len(groups) > 1:
		res.Verdict = results.Fail
		res.Evidence = divergence(groups)
	case len(groups) == 1:
		res.Verdict = results.Pass
		if split := hashSplit(groups[0]); split != "" {
			res.Verdict = results.Fail
			res.Evidence = append(res.Evidence, "equal exports, different state hashes (the state outside the export, e.g. fence tokens, differs): "+split)
		}
	}
	if why := uncompared(live, unreadable); why != "" {
		if res.Verdict == results.Fail {
			res.Evidence = append(res.Evidence, "note: "+why)
		} else {
			res.Verdict, res.Error = results.Undecided, why
		}
	}
	return res
}

// exportGroups groups the replicas by equal export, largest group first (the reference); ties go to
// the highest applied index.
func exportGroups(live []*Replica) [][]*Replica {
	var groups [][]*Replica
	for _, r := range live {
		placed := false
		for i, g := range groups {
			if sameExport(g[0], r) {
				groups[i] = append(g, r)
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []*Replica{r})
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if len(groups[i]) != len(groups[j]) {
			return len(groups[i]) > len(groups[j])
		}
		return groups[i][0].AppliedIndex > groups[j][0].AppliedIndex
	})
	return groups
}

// divergence names each distinct state's replicas, then how each differs from the reference.
func divergence(groups [][]*Replica) []string {
	var evidence []string
	for i, g := range groups {
		var nodes []string
		for _, r := range g {
			nodes = append(nodes, fmt.Sprintf("%s (applied %d)", nodeName(r), r.AppliedIndex))
		}
		evidence = append(evidence, fmt.Sprintf("state %d: %s", i+1, strings.Join(capList(nodes, MaxEvidence), ", ")))
	}
	ref := groups[0][0]
	for _, g := range groups[1:] {
		evidence = append(evidence, diffReplicas(ref, g[0])...)
	}
	return evidence
}

// uncompared says why some replicas, or all, could not be compared ("" when every one was).
func uncompared(live []*Replica, unreadable []string) string {
	var why []string
	if len(live) == 0 {
		why = append(why, "no live replica could be read")
	}
	if len(unreadable) > 0 {
		why = append(why, fmt.Sprintf("%d replicas could not be compared: %s", len(unreadable), strings.Join(capList(unreadable, 3), "; ")))
	}
	return strings.Join(why, "; ")
}

// sameExport reports whether two replicas exported the same state: the same accounts, the same
// transfers (whole records), the same blind writes in the same order and the same repeated
// entries. The applied index is not part of it: entries that change nothing (raft's own) move it.
func sameExport(a, b *Replica) bool {
	return maps.Equal(a.Accounts, b.Accounts) && maps.Equal(a.Transfers, b.Transfers) &&
		slices.EqualFunc(a.Writes, b.Writes, Write.Equal) && slices.Equal(a.Repeated, b.Repeated)
}

// hashSplit names the state hashes of replicas whose exports are equal when they are not all
// the same ("" when they are). A replica without a hash (its state moved during the export) is
// left out.
func hashSplit(g []*Replica) string {
	var first string
	split := false
	var parts []string
	for _, r := range g {
		if r.StateHash == "" {
			continue
		}
		if first == "" {
			first = r.StateHash
		} else if r.StateHash != first {
			split = true
		}
		parts = append(parts, fmt.Sprintf("%s %s", nodeName(r), short(r.StateHash)))
	}
	if !split {
		return ""
	}
	return strings.Join(capList(parts, MaxEvidence), ", ")
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// diffReplicas names the first records where b differs from a: accounts, transfers, blind
// writes and repeated entries, each with the node and the record's id or position.
func diffReplicas(a, b *Replica) []string {
	an, bn := nodeName(a), nodeName(b)
	d := &violations{what: fmt.Sprintf("%s differs from %s (applied %d vs %d)", bn, an, b.AppliedIndex, a.AppliedIndex)}
	for _, id := range sortedAccounts(a.Accounts) {
		x := a.Accounts[id]
		y, ok := b.Accounts[id]
		switch {
		case !ok:
			d.add(fmt.Sprintf("account %s: absent on %s (balance %d on %s)", id, bn, x.Balance, an), 0)
		case x != y:
			d.add(fmt.Sprintf("account %s: balance %d version %d opening %d on %s, vs %d version %d opening %d", id, y.Balance, y.Version, y.Initial, bn, x.Balance, x.Version, x.Initial), 0)
		}
	}
	for _, id := range sortedAccounts(b.Accounts) {
		if _, ok := a.Accounts[id]; !ok {
			d.add(fmt.Sprintf("account %s: only on %s", id, bn), 0)
		}
	}
	for _, id := range sortedTransfers(a.Transfers) {
		x := a.Transfers[id]
		y, ok := b.Transfers[id]
		switch {
		case !ok:
			d.add(fmt.Sprintf("transfer %s: absent on %s (%s at index %d on %s)", id, bn, x.Status, x.Index, an), 1)
		case x.Status != y.Status:
			d.add(fmt.Sprintf("transfer %s: %s on %s, vs %s", id, y.Status, bn, x.Status), 1)
		case x != y:
			d.add(fmt.Sprintf("transfer %s: %+v on %s, vs %+v", id, y, bn, x), 1)
		}
	}
	for _, id := range sortedTransfers(b.Transfers) {
		if _, ok := a.Transfers[id]; !ok {
			t := b.Transfers[id]
			d.add(fmt.Sprintf("transfer %s: only on %s (%s at index %d)", id, bn, t.Status, t.Index), 1)
		}
	}
	for i := 0; i < max(len(a.Writes), len(b.Writes)); i++ {
		switch {
		case i >= len(b.Writes):
			d.add(fmt.Sprintf("blind write %d (payment %s on %s at index %d): absent on %s", i+1, a.Writes[i].Payment, a.Writes[i].Account, a.Writes[i].Index, bn), 0)
		case i >= len(a.Writes):
			d.add(fmt.Sprintf("blind write %d (payment %s on %s at index %d): only on %s", i+1, b.Writes[i].Payment, b.Writes[i].Account, b.Writes[i].Index, bn), 0)
		case !a.Writes[i].Equal(b.Writes[i]):
			d.add(fmt.Sprintf("blind write %d: %s on %s, vs %s", i+1, b.Writes[i], bn, a.Writes[i]), 0)
		}
	}
	if !slices.Equal(a.Repeated, b.Repeated) {
		d.add(fmt.Sprintf("%d repeated entries on %s, vs %d", len(b.Repeated), bn, len(a.Repeated)), 0)
	}
	return d.lines()
}

func sortedTransfers(m map[string]Transfer) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
