package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// timeseriesHeader is the first line of timeseries.csv. Times are seconds from the run's
// start; latencies are milliseconds.
var timeseriesHeader = []string{
	"start_s", "end_s", "requests", "ok", "rejected", "failed", "unknown", "items_ok", "late",
	"request_rate", "ok_rate", "item_rate", "error_rate", "unknown_rate",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
}

// WriteTimeseries writes one CSV row per window.
func WriteTimeseries(w io.Writer, windows []Figures) error {
	cw := csv.NewWriter(w)
	cw.Write(timeseriesHeader)
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
	}
	for _, x := range windows {
		cw.Write([]string{
			f(x.Start.Seconds()), f(x.End.Seconds()), u(x.Requests), u(x.OK), u(x.Rejected), u(x.Failed),
			u(x.Unknown), u(x.ItemsOK), u(x.Late),
			f(x.RequestRate), f(x.OKRate), f(x.ItemRate), f(x.ErrorRate), f(x.UnknownRate),
			ms(x.Latency.P50), ms(x.Latency.P90), ms(x.Latency.P99), ms(x.Latency.P999), ms(x.Latency.Max),
		})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write timeseries.csv: %w", err)
	}
	return nil
}
