package assertions

import (
	"fmt"
	"sort"
	"strings"

	"paylab/results"
)

func buildConverge(p *params) (checkFunc, error) {
	within := p.duration("within")
	return func(v *view) results.AssertionResult { return checkConverge(v, within.String()) }, nil
}

// checkConverge compares the state hashes of the live replicas. The lab exports them after
// waiting up to `within` for their applied indexes to meet, so a difference here is a replica
// that never caught up or one that applied something else. Where the hashes differ, the
// evidence names each node's applied index and the first accounts and transfers that differ
// from the largest group.
func checkConverge(v *view, within string) results.AssertionResult {
	var live []*Replica
	var noHash, unreadable []string
	for i := range v.in.Replicas {
		r := &v.in.Replicas[i]
		switch {
		case !r.Live:
		case !r.Readable():
			unreadable = append(unreadable, nodeName(r))
		case r.StateHash == "":
			noHash = append(noHash, nodeName(r))
		default:
			live = append(live, r)
		}
	}
	limit := "equal state hashes on all live replicas within " + within
	groups := map[string][]*Replica{}
	var hashes []string
	for _, r := range live {
		if _, ok := groups[r.StateHash]; !ok {
			hashes = append(hashes, r.StateHash)
		}
		groups[r.StateHash] = append(groups[r.StateHash], r)
	}
	// The largest group is the reference; ties go to the highest applied index.
	sort.SliceStable(hashes, func(i, j int) bool {
		a, b := groups[hashes[i]], groups[hashes[j]]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a[0].AppliedIndex > b[0].AppliedIndex
	})
	res := results.AssertionResult{
		Observed: fmt.Sprintf("%d distinct states among %d live replicas", len(hashes), len(live)),
		Limit:    limit,
	}
	if len(hashes) > 1 {
		res.Verdict = results.Fail
		for _, h := range hashes {
			var nodes []string
			for _, r := range groups[h] {
				nodes = append(nodes, fmt.Sprintf("%s (applied %d)", nodeName(r), r.AppliedIndex))
			}
			res.Evidence = append(res.Evidence, fmt.Sprintf("hash %s: %s", short(h), strings.Join(capList(nodes, MaxEvidence), ", ")))
		}
		ref := groups[hashes[0]][0]
		for _, h := range hashes[1:] {
			res.Evidence = append(res.Evidence, diffReplicas(ref, groups[h][0])...)
		}
		return res
	}
	res.Verdict = results.Pass
	if len(live) == 0 || len(noHash)+len(unreadable) > 0 {
		res.Verdict = results.Undecided
		var why []string
		if len(live) == 0 {
			why = append(why, "no live replica with a state hash")
		}
		if len(unreadable) > 0 {
			why = append(why, "live replicas not readable: "+strings.Join(capList(unreadable, 3), ", "))
		}
		if len(noHash) > 0 {
			why = append(why, "state moved during the export of "+strings.Join(capList(noHash, 3), ", "))
		}
		res.Error = strings.Join(why, "; ")
	}
	return res
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// diffReplicas names the first accounts and transfers where b differs from a.
func diffReplicas(a, b *Replica) []string {
	d := &violations{what: fmt.Sprintf("%s differs from %s (applied %d vs %d)", nodeName(b), nodeName(a), b.AppliedIndex, a.AppliedIndex)}
	for _, id := range sortedAccounts(a.Accounts) {
		x := a.Accounts[id]
		y, ok := b.Accounts[id]
		switch {
		case !ok:
			d.add(fmt.Sprintf("account %s: absent (balance %d on %s)", id, x.Balance, nodeName(a)), 0)
		case x.Balance != y.Balance || x.Version != y.Version:
			d.add(fmt.Sprintf("account %s: balance %d version %d, vs %d version %d", id, y.Balance, y.Version, x.Balance, x.Version), 0)
		}
	}
	for _, id := range sortedAccounts(b.Accounts) {
		if _, ok := a.Accounts[id]; !ok {
			d.add(fmt.Sprintf("account %s: only here", id), 0)
		}
	}
	ids := make([]string, 0, len(a.Transfers))
	for id := range a.Transfers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		x := a.Transfers[id]
		y, ok := b.Transfers[id]
		switch {
		case !ok:
			d.add(fmt.Sprintf("transfer %s: absent (%s at index %d on %s)", id, x.Status, x.Index, nodeName(a)), 0)
		case x.Status != y.Status:
			d.add(fmt.Sprintf("transfer %s: %s, vs %s", id, y.Status, x.Status), 0)
		}
	}
	extra := 0
	for id := range b.Transfers {
		if _, ok := a.Transfers[id]; !ok {
			extra++
		}
	}
	if extra > 0 {
		d.add(fmt.Sprintf("%d transfers only here", extra), 0)
	}
	if len(a.Writes) != len(b.Writes) {
		d.add(fmt.Sprintf("%d blind writes, vs %d", len(b.Writes), len(a.Writes)), 0)
	}
	return d.lines()
}
