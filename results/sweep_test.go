package results

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// A sweep's medians leave out runs measured on a saturated lab, and say how many; sweep.csv keeps every
// run with its saturated flag.
func TestSweepStatsLeaveOutSaturatedRuns(t *testing.T) {
	rows := []SweepRow{
		{Combo: []string{"1s"}, Repeat: 1, RunID: "a", Verdict: Pass, Values: map[string]float64{"p99": 0.1}},
		{Combo: []string{"1s"}, Repeat: 2, RunID: "b", Verdict: Undecided, Saturated: true, Values: map[string]float64{"p99": 9}},
		{Combo: []string{"1s"}, Repeat: 3, RunID: "c", Verdict: Pass, Values: map[string]float64{"p99": 0.3, "error_rate_all": 0.01}},
	}
	cols := SweepColumns(rows)
	if strings.Join(cols, ",") != "error_rate_all,p99" {
		t.Fatalf("columns %v", cols)
	}
	st := SweepStats(rows, cols)
	if len(st) != 2 || st[1].Column != "p99" || st[1].Runs != 2 || st[1].Excluded != 1 || st[1].Worst != 0.3 || st[1].Median != 0.3 {
		t.Errorf("stats %+v: want p99 over 2 runs, worst 0.3 (the saturated 9 s left out), 1 excluded", st)
	}
	all := SweepStats(rows[1:2], cols)
	if len(all) != 1 || all[0].Runs != 0 || !math.IsNaN(all[0].Median) || SweepValue("p99", all[0].Median) != "-" {
		t.Errorf("only saturated runs: %+v, want no figure", all)
	}
	var b bytes.Buffer
	if err := WriteSweepCSV(&b, []string{"duration"}, cols, rows); err != nil {
		t.Fatal(err)
	}
	want := "duration,repeat,run,verdict,saturated,error_rate_all,p99\n1s,1,a,pass,false,,0.1\n1s,2,b,unknown,true,,9\n1s,3,c,pass,false,0.01,0.3\n"
	if b.String() != want {
		t.Errorf("sweep.csv:\n%s\nwant:\n%s", b.String(), want)
	}
}
