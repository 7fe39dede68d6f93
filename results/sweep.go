package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// SweepRow is one run of a sweep: the value of each axis (in axis order), which repeat it was, the run's id
// and verdict, whether the lab was saturated in any of its windows (its timing figures then describe the
// lab as much as the system, and the sweep's medians leave it out), and every figure the run produced by
// column name ("p99[steady]", "p99_all_s", …; seconds or fractions).
type SweepRow struct {
	Combo     []string
	Repeat    int
	RunID     string
	Verdict   Verdict
	Saturated bool
	Values    map[string]float64
}

// SweepColumns returns every figure column of rows, sorted.
func SweepColumns(rows []SweepRow) []string {
	seen := map[string]bool{}
	for _, r := range rows {
		for c := range r.Values {
			seen[c] = true
		}
	}
	cols := make([]string, 0, len(seen))
	for c := range seen {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}

// WriteSweepCSV writes sweep.csv: a header (the axis keys, repeat, run, verdict, saturated, then cols),
// then one line per row; a figure a run did not produce is empty.
func WriteSweepCSV(w io.Writer, keys []string, cols []string, rows []SweepRow) error {
	cw := csv.NewWriter(w)
	head := append(append(append([]string(nil), keys...), "repeat", "run", "verdict", "saturated"), cols...)
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write sweep.csv: %w", err)
	}
	for _, r := range rows {
		rec := append(append([]string(nil), r.Combo...), strconv.Itoa(r.Repeat), r.RunID, string(r.Verdict), strconv.FormatBool(r.Saturated))
		for _, c := range cols {
			if v, ok := r.Values[c]; ok {
				rec = append(rec, strconv.FormatFloat(v, 'g', 6, 64))
			} else {
				rec = append(rec, "")
			}
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write sweep.csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write sweep.csv: %w", err)
	}
	return nil
}

// SweepStat is a figure's median and worst over the unsaturated runs of one combination, and how many runs
// were left out because the lab was saturated.
type SweepStat struct {
	Column         string
	Median, Worst  float64
	Runs, Excluded int
}

// SweepStats summarises, for the rows of one combination, every column over the runs whose lab was not
// saturated (a study measured on a saturated lab is worthless). A column with no unsaturated run has
// Runs 0 and NaN figures.
func SweepStats(rows []SweepRow, cols []string) []SweepStat {
	var out []SweepStat
	for _, c := range cols {
		st := SweepStat{Column: c, Median: math.NaN(), Worst: math.NaN()}
		var vs []float64
		for _, r := range rows {
			v, ok := r.Values[c]
			switch {
			case !ok:
			case r.Saturated:
				st.Excluded++
			default:
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 && st.Excluded == 0 {
			continue
		}
		sort.Float64s(vs)
		st.Runs = len(vs)
		if len(vs) > 0 {
			st.Median, st.Worst = vs[len(vs)/2], vs[len(vs)-1]
		}
		out = append(out, st)
	}
	return out
}

// SweepValue prints a sweep figure: rates ("error_rate…" columns) as percentages, everything else as
// seconds rounded to the millisecond; "-" for NaN.
func SweepValue(col string, v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if strings.HasPrefix(col, "error_rate") {
		return fmt.Sprintf("%.3g%%", 100*v)
	}
	return time.Duration(v * float64(time.Second)).Round(time.Millisecond).String()
}
