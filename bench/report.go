package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"paylab/lab/load"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
)

// Run is the figures of one ledger benchmark run.
type Run struct {
	TransfersPerSec, RequestsPerSec float64
	P50, P99, P999, Max             time.Duration
	OK, Rejected, Failed, Unknown   uint64
	Late, Missed                    uint64
	// Limited says what held the generator back and which non-ok reasons came back, if any.
	Limited string
	// BatchMean is the mean transfers per group-commit entry on the leader (single mode; 0 when unknown).
	BatchMean float64
}

// Print writes the run as one labelled line (and a note line when something limited it).
func (b Run) Print(w io.Writer, label string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s:\t%.0f transfers/s\t(%.0f req/s)\tp50 %s\tp99 %s\tp99.9 %s\tmax %s\tok %d\trejected %d\tfailed %d\tunknown %d\tlate %d\tmissed %d",
		label, b.TransfersPerSec, b.RequestsPerSec, ms(b.P50), ms(b.P99), ms(b.P999), ms(b.Max), b.OK, b.Rejected, b.Failed, b.Unknown, b.Late, b.Missed)
	if b.BatchMean > 0 {
		fmt.Fprintf(tw, "\tgroup commit %.0f/entry", b.BatchMean)
	}
	fmt.Fprintln(tw)
	tw.Flush()
	if b.Limited != "" {
		fmt.Fprintf(w, "  note: %s\n", b.Limited)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// Median takes the median of each figure independently across runs.
func Median(runs []Run) Run {
	pick := func(f func(Run) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	d := func(f func(Run) time.Duration) time.Duration {
		return time.Duration(pick(func(r Run) float64 { return float64(f(r)) }))
	}
	u := func(f func(Run) uint64) uint64 {
		return uint64(pick(func(r Run) float64 { return float64(f(r)) }))
	}
	return Run{
		TransfersPerSec: pick(func(r Run) float64 { return r.TransfersPerSec }),
		RequestsPerSec:  pick(func(r Run) float64 { return r.RequestsPerSec }),
		P50:             d(func(r Run) time.Duration { return r.P50 }),
		P99:             d(func(r Run) time.Duration { return r.P99 }),
		P999:            d(func(r Run) time.Duration { return r.P999 }),
		Max:             d(func(r Run) time.Duration { return r.Max }),
		OK:              u(func(r Run) uint64 { return r.OK }),
		Rejected:        u(func(r Run) uint64 { return r.Rejected }),
		Failed:          u(func(r Run) uint64 { return r.Failed }),
		Unknown:         u(func(r Run) uint64 { return r.Unknown }),
		Late:            u(func(r Run) uint64 { return r.Late }),
		Missed:          u(func(r Run) uint64 { return r.Missed }),
		BatchMean:       pick(func(r Run) float64 { return r.BatchMean }),
	}
}

// reasons lists a report's non-ok reasons as "reason×count", sorted.
func reasons(rep *load.Report) string {
	var rs []string
	for k, v := range rep.Reasons {
		rs = append(rs, fmt.Sprintf("%s×%d", k, v))
	}
	slices.Sort(rs)
	return strings.Join(rs, ", ")
}

// callOutcome is a client call's outcome as the load generator counts it, with a reason when it was not ok.
func callOutcome(o outcome.Kind, reason string, err error, items int) load.Outcome {
	out := load.Outcome{Kind: o, Items: items, Reason: reason}
	if err != nil && out.Reason == "" {
		var apiErr *client.APIError
		switch {
		case errors.As(err, &apiErr):
			out.Reason = fmt.Sprintf("http %d %s", apiErr.Code, apiErr.Reason)
		case errors.Is(err, context.DeadlineExceeded):
			out.Reason = "timeout"
		default:
			out.Reason = "transport error"
		}
	}
	return out
}
