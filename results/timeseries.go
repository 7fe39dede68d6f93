package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// timeseriesHeader is the first line of timeseries.csv. Times are seconds from the run's
// start; latencies are milliseconds.
var timeseriesHeader = []string{
	"start_s", "end_s", "requests", "ok", "rejected", "failed", "unknown", "items_ok", "late",
	"request_rate", "ok_rate", "item_rate", "error_rate", "unknown_rate",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
}

// healthHeader are the lab-health columns that follow timeseriesHeader (see Health); they are
// empty in windows without health figures. Files written before they existed have none.
var healthHeader = []string{
	"sched_lag_p99_ms", "sched_lag_max_ms", "cpu_cores", "machine_cores", "cores", "gc_pause_ms", "saturated", "saturated_reasons",
}

// backendHeader are the columns after healthHeader: what happened behind the gateways (see Backend);
// empty in windows without those figures. Files written before they existed have none.
var backendHeader = []string{"ledger_reads", "cache_hits"}

// WriteTimeseries writes one CSV row per window.
func WriteTimeseries(w io.Writer, windows []Figures) error {
	cw := csv.NewWriter(w)
	cw.Write(append(append(append([]string(nil), timeseriesHeader...), healthHeader...), backendHeader...))
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	for _, x := range windows {
		row := []string{
			f(x.Start.Seconds()), f(x.End.Seconds()), u(x.Requests), u(x.OK), u(x.Rejected), u(x.Failed),
			u(x.Unknown), u(x.ItemsOK), u(x.Late),
			f(x.RequestRate), f(x.OKRate), f(x.ItemRate), f(x.ErrorRate), f(x.UnknownRate),
			ms(x.Latency.P50), ms(x.Latency.P90), ms(x.Latency.P99), ms(x.Latency.P999), ms(x.Latency.Max),
		}
		if h := x.Health; h != nil {
			row = append(row, ms(h.SchedLagP99), ms(h.SchedLagMax), strconv.FormatFloat(h.CPU, 'f', 3, 64),
				strconv.FormatFloat(h.Machine, 'f', 3, 64), strconv.Itoa(h.Cores), ms(h.GCPause),
				strconv.Itoa(h.Saturated), strings.Join(h.Reasons, "; "))
		} else {
			row = append(row, make([]string, len(healthHeader))...)
		}
		if b := x.Backend; b != nil {
			row = append(row, u(b.LedgerReads), u(b.CacheHits))
		} else {
			row = append(row, make([]string, len(backendHeader))...)
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write timeseries.csv: %w", err)
	}
	return nil
}

// MaxTimeseriesRows bounds the windows ReadTimeseries accepts.
const MaxTimeseriesRows = MaxWindows

// ReadTimeseries reads timeseries.csv back into windows (the figures it holds; histogram detail beyond its
// percentiles is not in the file).
func ReadTimeseries(r io.Reader) ([]Figures, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	want, err := readTimeseriesHeader(cr)
	if err != nil {
		return nil, fmt.Errorf("read timeseries.csv: %w", err)
	}
	var out []Figures
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read timeseries.csv: %w", err)
		}
		if len(rec) != len(want) {
			return nil, fmt.Errorf("read timeseries.csv: line %d has %d columns, want %d", line, len(rec), len(want))
		}
		if len(out) == MaxTimeseriesRows {
			return nil, fmt.Errorf("read timeseries.csv: more than %d rows", MaxTimeseriesRows)
		}
		x, err := (&timeseriesRow{rec: rec, names: want, line: line}).figures()
		if err != nil {
			return nil, fmt.Errorf("read timeseries.csv: %w", err)
		}
		out = append(out, x)
	}
}

// readTimeseriesHeader reads the header line and returns the columns it must be: timeseriesHeader,
// followed by healthHeader in files written with lab health.
func readTimeseriesHeader(cr *csv.Reader) ([]string, error) {
	head, err := cr.Read()
	if err != nil {
		return nil, err
	}
	want := timeseriesHeader
	switch len(head) {
	case len(timeseriesHeader) + len(healthHeader):
		want = append(append([]string(nil), timeseriesHeader...), healthHeader...)
	case len(timeseriesHeader) + len(healthHeader) + len(backendHeader):
		want = append(append(append([]string(nil), timeseriesHeader...), healthHeader...), backendHeader...)
	}
	if len(head) != len(want) {
		return nil, fmt.Errorf("%d columns, want %d (or %d with lab health, %d with backend figures)", len(head), len(timeseriesHeader),
			len(timeseriesHeader)+len(healthHeader), len(timeseriesHeader)+len(healthHeader)+len(backendHeader))
	}
	for i, h := range want {
		if head[i] != h {
			return nil, fmt.Errorf("column %d is %q, want %q", i+1, head[i], h)
		}
	}
	return want, nil
}

// timeseriesRow parses one row of timeseries.csv; bad keeps the first field that did not parse.
type timeseriesRow struct {
	rec   []string
	names []string // the columns, for errors
	line  int
	bad   error
}

func (r *timeseriesRow) fl(i int) float64 {
	v, err := strconv.ParseFloat(r.rec[i], 64)
	if err != nil && r.bad == nil {
		r.bad = fmt.Errorf("line %d, %s: %w", r.line, r.names[i], err)
	}
	return v
}

func (r *timeseriesRow) u(i int) uint64 {
	v, err := strconv.ParseUint(r.rec[i], 10, 64)
	if err != nil && r.bad == nil {
		r.bad = fmt.Errorf("line %d, %s: %w", r.line, r.names[i], err)
	}
	return v
}

func (r *timeseriesRow) sec(i int) time.Duration {
	return time.Duration(r.fl(i) * float64(time.Second))
}
func (r *timeseriesRow) ms(i int) time.Duration {
	return time.Duration(r.fl(i) * float64(time.Millisecond))
}

// figures is the window the row describes, with its lab health when the file has those columns and the
// row fills them.
func (r *timeseriesRow) figures() (Figures, error) {
	x := Figures{
		Start: r.sec(0), End: r.sec(1), Requests: r.u(2), OK: r.u(3), Rejected: r.u(4), Failed: r.u(5), Unknown: r.u(6),
		ItemsOK: r.u(7), Late: r.u(8), RequestRate: r.fl(9), OKRate: r.fl(10), ItemRate: r.fl(11), ErrorRate: r.fl(12),
		UnknownRate: r.fl(13),
		Latency:     Latency{Count: int64(r.u(2)), P50: r.ms(14), P90: r.ms(15), P99: r.ms(16), P999: r.ms(17), Max: r.ms(18)},
	}
	if n := len(timeseriesHeader); len(r.rec) > n && r.rec[n] != "" {
		x.Health = &Health{
			SchedLagP99: r.ms(n), SchedLagMax: r.ms(n + 1), CPU: r.fl(n + 2), Machine: r.fl(n + 3),
			Cores: int(r.u(n + 4)), GCPause: r.ms(n + 5), Saturated: int(r.u(n + 6)), Windows: 1,
		}
		x.Health.CPUSeconds = x.Health.CPU * (x.End - x.Start).Seconds()
		if reasons := r.rec[n+7]; reasons != "" {
			x.Health.Reasons = strings.Split(reasons, "; ")
		}
	}
	if n := len(timeseriesHeader) + len(healthHeader); len(r.rec) > n && r.rec[n] != "" {
		x.Backend = &Backend{LedgerReads: r.u(n), CacheHits: r.u(n + 1)}
	}
	return x, r.bad
}

// ReadDir reads a run directory back (summary.json and timeseries.csv) into a Run, for re-rendering its
// report and JUnit file.
func ReadDir(dir string) (*Run, error) {
	f, err := os.Open(filepath.Join(dir, SummaryFile))
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", dir, err)
	}
	defer f.Close()
	r, err := ReadSummary(f)
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", dir, err)
	}
	t, err := os.Open(filepath.Join(dir, TimeseriesFile))
	if err != nil {
		return nil, fmt.Errorf("read run %s: %w", dir, err)
	}
	defer t.Close()
	if r.Windows, err = ReadTimeseries(t); err != nil {
		return nil, fmt.Errorf("read run %s: %w", dir, err)
	}
	return r, nil
}
