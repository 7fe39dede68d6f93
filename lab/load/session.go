package load

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"paylab/results"
)

// SessionOptions configure a Session.
type SessionOptions struct {
	// Config is the load; its Recorder, History and Metrics are the session's own.
	Config Config
	// MetricsPort serves Prometheus metrics on 127.0.0.1:MetricsPort (0 picks a port; negative: off).
	MetricsPort int
	// History keeps every operation in a history, up to HistoryCap.
	History    bool
	HistoryCap int
}

// Session is one load run against an endpoint outside the lab, as `paylab load` drives it: the
// generator's figures go to a recorder and, optionally, to a Prometheus endpoint and a history, and what
// it saw can be written as a run directory (report.html, summary.json, …).
type Session struct {
	cfg     Config
	start   time.Time
	rec     *results.Recorder
	hist    *results.History
	metrics *results.MetricsServer
}

// NewSession starts the metrics endpoint, if asked, and readies the recorder and history. Every error
// is a refusal of the options. Close releases what it started.
func NewSession(o SessionOptions) (*Session, error) {
	s := &Session{cfg: o.Config, start: time.Now()}
	var metrics *results.Metrics
	if o.MetricsPort >= 0 {
		metrics = results.NewMetrics()
		srv, err := metrics.Serve(o.MetricsPort)
		if err != nil {
			return nil, err
		}
		s.metrics = srv
	}
	rec, err := results.NewRecorder(results.RecorderConfig{Start: s.start, Horizon: s.cfg.Duration + s.cfg.Timeout, Metrics: metrics})
	if err != nil {
		s.Close()
		return nil, err
	}
	s.rec = rec
	s.cfg.Recorder, s.cfg.Metrics = rec, metrics
	if o.History {
		s.hist = results.NewHistory(s.start, o.HistoryCap)
		s.cfg.History = s.hist
	}
	if err := s.cfg.Validate(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// MetricsAddr is the address the metrics are served on ("" when they are not).
func (s *Session) MetricsAddr() string {
	if s.metrics == nil {
		return ""
	}
	return s.metrics.Addr()
}

// Config is the load the session runs.
func (s *Session) Config() Config { return s.cfg }

// History is the operations kept, or nil without a history.
func (s *Session) History() *results.History { return s.hist }

// Run drives op with the session's load until it ends or ctx does (see Run).
func (s *Session) Run(ctx context.Context, op OpFunc) (*Report, error) {
	return Run(ctx, s.cfg, op)
}

// Write writes what rep saw, with notes, into dir as a run directory: summary.json, timeseries.csv,
// junit.xml, report.html, latency.hlog and, with a history, history.bin.
func (s *Session) Write(dir string, rep *Report, notes []string) error {
	if err := results.WriteDir(dir, s.summary(rep, notes), s.hist); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := s.rec.SaveHistogramLog(dir); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// summary is the run the report and summary files are written from.
func (s *Session) summary(rep *Report, notes []string) *results.Run {
	run := &results.Run{
		ID:       s.start.UTC().Format("20060102T150405Z") + "-load",
		Scenario: "paylab load",
		Started:  s.start,
		Duration: rep.Elapsed,
		Versions: map[string]string{"go": runtime.Version()},
		Notes:    notes,
		Load:     rep.Figures(),
		Total:    rep.Total,
		Windows:  rep.Windows,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		run.Versions["paylab"] = bi.Main.Version
	}
	if host, err := os.Hostname(); err == nil {
		run.Notes = append(run.Notes, "host: "+host)
	}
	run.Decide()
	return run
}

// Close stops the metrics endpoint, waiting up to two seconds for open scrapes.
func (s *Session) Close() {
	if s.metrics == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.metrics.Close(ctx)
	s.metrics = nil
}

// Figures are the report's figures as a run summary carries them; nil for a nil report.
func (r *Report) Figures() *results.LoadFigures {
	if r == nil {
		return nil
	}
	return &results.LoadFigures{
		Model: r.Model, Pacer: r.Pacer, SendWindow: r.SendWindow, Requests: r.Requests, Due: r.Due,
		Missed: r.Missed, Late: r.Late, TargetRate: r.TargetRate, Rate: r.Rate, PeakWorkers: r.PeakWorkers,
		MaxWorkers: r.MaxWorkers, Limited: r.Limited, LimitReason: r.LimitReason,
		SendLag: results.LatencyOf(r.SendLag), Service: results.LatencyOf(r.Service),
	}
}
