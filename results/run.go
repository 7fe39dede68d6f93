package results

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// EventKind classifies the events of a run's timeline.
type EventKind string

// Event kinds. Faults with an Until are drawn as shaded windows; the others as marks in their
// own lane of the report's event strip.
const (
	EventFault   EventKind = "fault"   // a fault from inject to heal
	EventLeader  EventKind = "leader"  // a ledger leader change
	EventDNS     EventKind = "dns"     // a DNS answer changed (region removed, weights)
	EventBreaker EventKind = "breaker" // a gateway's circuit breaker changed state (see BreakerEvent)
	EventNote    EventKind = "note"    // anything else worth marking
)

// Event is one thing that happened during a run, as offsets from its start.
type Event struct {
	At     time.Duration `json:"at_ns"`
	Until  time.Duration `json:"until_ns,omitempty"` // end of a fault window; 0 for an instant
	Kind   EventKind     `json:"kind"`
	Name   string        `json:"name"`             // "zone-down", "leader", "dns"
	Target string        `json:"target,omitempty"` // "us-east/a", the new leader's id
	Detail string        `json:"detail,omitempty"`
}

// Label is the event's short name, "zone-down us-east/a": phases and assertions name fault
// windows by it. Describe is what a person reads.
func (e Event) Label() string {
	if e.Target == "" {
		return e.Name
	}
	return e.Name + " " + e.Target
}

// AssertionResult is the outcome of one invariant or limit check, with what was observed, the
// limit, and evidence (the first violating ids, the window) a reader can follow up.
type AssertionResult struct {
	Name string `json:"name"`
	// ID is the scenario's id: for this entry, when it gave one (two entries of one assertion).
	ID       string  `json:"id,omitempty"`
	Verdict  Verdict `json:"verdict"`
	Observed string  `json:"observed,omitempty"` // "p99 61.2ms", "2 keys applied twice"
	// Value is the observed figure as a number, where there is one: seconds for times (recovery, failover,
	// latency percentiles), a fraction for rates. Sweeps aggregate it across runs.
	Value    *float64 `json:"value,omitempty"`
	Limit    string   `json:"limit,omitempty"`    // "< 50ms"
	Phase    string   `json:"phase,omitempty"`    // the phase or window checked
	Evidence []string `json:"evidence,omitempty"` // first violations, most telling first
	Error    string   `json:"error,omitempty"`    // why the check could not decide
	// Expected is set when the scenario expects this assertion to fail (naive modes).
	Expected Verdict       `json:"expected,omitempty"`
	Took     time.Duration `json:"took_ns,omitempty"`
}

// Passed reports whether the result is what the scenario expects (pass unless Expected says
// otherwise).
func (a AssertionResult) Passed() bool {
	want := a.Expected
	if want == "" {
		want = Pass
	}
	return a.Verdict == want
}

// LoadFigures describe what the load generator offered and achieved.
type LoadFigures struct {
	Model       string        `json:"model"`
	Pacer       string        `json:"pacer"`
	SendWindow  time.Duration `json:"send_window_ns"`
	Requests    uint64        `json:"requests"`
	Due         uint64        `json:"due"`
	Missed      uint64        `json:"missed"`
	Late        uint64        `json:"late"`
	TargetRate  float64       `json:"target_rate"`
	Rate        float64       `json:"rate"`
	PeakWorkers int           `json:"peak_workers"`
	MaxWorkers  int           `json:"max_workers"`
	Limited     bool          `json:"limited"`
	LimitReason string        `json:"limit_reason,omitempty"`
	SendLag     Latency       `json:"send_lag"`
	Service     Latency       `json:"service_time"`
}

// Run is everything a run leaves behind, and the input of every file written from it. The lab
// fills it; `paylab load` fills the part it knows.
type Run struct {
	ID          string            `json:"id"`
	Scenario    string            `json:"scenario"`
	Description string            `json:"description,omitempty"`
	Seed        int64             `json:"seed"`
	Started     time.Time         `json:"started"`
	Duration    time.Duration     `json:"duration_ns"`
	Verdict     Verdict           `json:"verdict"`
	Versions    map[string]string `json:"versions,omitempty"`
	// Replay is the command that runs this scenario again with the same seed ("paylab run zone-failover
	// --seed 42"), and Commit the paylab commit that ran it (vcs.revision, "-dirty" when modified; empty
	// when the binary carries no VCS stamp). See docs/SCENARIOS.md for what a seed fixes and what not.
	Replay string   `json:"replay,omitempty"`
	Commit string   `json:"commit,omitempty"`
	Notes  []string `json:"notes,omitempty"`

	Load       *LoadFigures      `json:"load,omitempty"`
	Total      Figures           `json:"total"`
	Phases     []Figures         `json:"phases,omitempty"`
	Windows    []Figures         `json:"-"` // written to timeseries.csv
	Events     []Event           `json:"events,omitempty"`
	Assertions []AssertionResult `json:"assertions,omitempty"`
	// LabHealth is the lab's account of its own condition during the load (nil when not measured).
	LabHealth *LabHealth `json:"lab_health,omitempty"`
	// Profiles are the pprof captures taken during fault windows (paylab run --profile).
	Profiles []Profile `json:"profiles,omitempty"`
}

// Profile is one pprof capture taken during a run, stored in the run directory.
type Profile struct {
	// Fault is the fault window it was taken in ("zone-down us-east/a").
	Fault string        `json:"fault"`
	At    time.Duration `json:"at_ns"`
	// Span is how long a CPU profile ran (0 for a snapshot such as a goroutine dump).
	Span time.Duration `json:"span_ns,omitempty"`
	// Kind is "cpu" or "goroutine"; Node is whose pprof endpoint served it.
	Kind string `json:"kind"`
	Node string `json:"node"`
	// File is relative to the run directory.
	File string `json:"file"`
}

// Label is how reports name the result: "name id" when the entry has an id, else the name.
func (a AssertionResult) Label() string {
	if a.ID != "" && a.ID != a.Name {
		return a.Name + " " + a.ID
	}
	return a.Name
}

// ReplayLine is the one line a run ends with: the command that replays it and the commit that ran it.
func (r *Run) ReplayLine() string {
	commit := r.Commit
	if commit == "" {
		commit = "unknown (no VCS stamp in this binary)"
	}
	return fmt.Sprintf("replay: %s   (paylab commit %s)", r.Replay, commit)
}

// Decide sets the run's verdict from its assertions: fail if any is not what the scenario
// expects, unknown if any could not decide, pass otherwise (also with no assertions).
func (r *Run) Decide() Verdict {
	v := Pass
	for _, a := range r.Assertions {
		switch {
		case a.Verdict == Undecided:
			v = Combine(v, Undecided)
		case !a.Passed():
			v = Combine(v, Fail)
		}
	}
	r.Verdict = v
	return v
}

// WriteSummary writes summary.json: the verdict, every assertion, key figures, versions, seed.
func WriteSummary(w io.Writer, r *Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write summary.json: %w", err)
	}
	return nil
}

// ReadSummary reads summary.json back (without the windows, which live in timeseries.csv).
func ReadSummary(rd io.Reader) (*Run, error) {
	var r Run
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("read summary.json: %w", err)
	}
	return &r, nil
}

// WriteEvents writes events.jsonl, one event per line.
func WriteEvents(w io.Writer, events []Event) error {
	enc := json.NewEncoder(w)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write events.jsonl: %w", err)
		}
	}
	return nil
}

// File names in a run directory.
const (
	SummaryFile    = "summary.json"
	TimeseriesFile = "timeseries.csv"
	EventsFile     = "events.jsonl"
	JUnitFile      = "junit.xml"
	ReportFile     = "report.html"
	HistoryFile    = "history.bin"
)

// WriteDir writes every file of a run into dir (created if missing): summary.json,
// timeseries.csv, events.jsonl, junit.xml, report.html and, if hist is not nil, history.bin.
func WriteDir(dir string, r *Run, hist *History) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write run directory: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{SummaryFile, func(w io.Writer) error { return WriteSummary(w, r) }},
		{TimeseriesFile, func(w io.Writer) error { return WriteTimeseries(w, r.Windows) }},
		{EventsFile, func(w io.Writer) error { return WriteEvents(w, r.Events) }},
		{JUnitFile, func(w io.Writer) error { return WriteJUnit(w, r) }},
		{ReportFile, func(w io.Writer) error { return WriteReport(w, r) }},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return err
		}
	}
	if hist != nil {
		if err := hist.Save(filepath.Join(dir, HistoryFile)); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
