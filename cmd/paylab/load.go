package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"paylab/lab/load"
)

const loadUsage = `Usage: paylab load (--url URL | --ledger id=URL,...) [flags]

Drives one paylab endpoint with the lab's load generator and prints a k6-like summary.
Latency counts from each request's intended send time (no coordinated omission); sends the
generator could not make on time are counted as late or missed.

  --url URL                 any HTTP endpoint: each request is METHOD URL [BODY]; 2xx is ok,
                            4xx rejected, 5xx and transport errors failed, timeouts unknown
  --ledger n1=URL,n2=URL    a ledger cluster, through the ledger client, with a payment workload
                            (transfers and reads, Zipf accounts, resubmissions, regions)

Load shape (one of): --rate R (constant, default 100/s) | --ramp FROM:TO (linear over
--duration) | --steps R:DUR,R:DUR,... | --clients N (closed model, for comparison).

Examples:
  paylab load --url http://127.0.0.1:8080/ --rate 5000 --duration 30s
  paylab load --ledger n1=http://127.0.0.1:7001,n2=http://127.0.0.1:7002 --accounts 1000 \
      --mix transfer=0.9,read=0.1 --zipf 1.1 --duplicates 0.05 --regions us-east,eu-west \
      --rate 2000 --duration 20s --out runs/load --history

Flags:
`

// loadFlags are the flags of `paylab load`.
type loadFlags struct {
	http        load.HTTPTarget // --url mode
	ledgerNodes string

	cfg         load.Config // the load: duration, workers, timeout; the pacer comes from the flags below
	rate        float64
	ramp, steps string
	clients     int
	think       time.Duration

	workload load.Workload
	balance  int64
	create   bool
	mix      string
	regions  string

	out         string
	history     bool
	historyCap  int
	metricsPort int
	cpuProfile  string
	signKey     string
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := loadFlags{cfg: load.DefaultConfig()}
	fs := flag.NewFlagSet("paylab load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	w, c := &f.workload, &f.cfg
	fs.StringVar(&f.http.URL, "url", "", "HTTP endpoint to drive (generic mode)")
	fs.StringVar(&f.http.Method, "method", http.MethodGet, "HTTP method in --url mode")
	fs.StringVar(&f.http.Body, "body", "", "request body in --url mode (sent with Content-Type: application/json)")
	fs.StringVar(&f.ledgerNodes, "ledger", "", "ledger nodes as id=URL,id=URL (workload mode)")
	fs.Float64Var(&f.rate, "rate", 100, "constant rate in requests per second (open model)")
	fs.StringVar(&f.ramp, "ramp", "", "linear ramp FROM:TO requests per second over --duration")
	fs.StringVar(&f.steps, "steps", "", "steps RATE:DURATION,... (e.g. 100:5s,1000:10s)")
	fs.IntVar(&f.clients, "clients", 0, "closed model: this many clients back to back instead of a rate")
	fs.DurationVar(&f.think, "think", 0, "closed model: pause between a client's requests")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send (hard bound)")
	fs.Uint64Var(&c.MaxRequests, "max-requests", 0, "stop after this many requests (0: only --duration bounds)")
	fs.IntVar(&c.Workers, "workers", load.DefaultWorkers, "workers started up front")
	fs.IntVar(&c.MaxWorkers, "max-workers", 4096, "bound on concurrent requests (and connections)")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "per-request timeout; a timed-out write is unknown")
	fs.IntVar(&w.Accounts, "accounts", 1000, "ledger mode: number of accounts acc-0 … acc-N-1")
	fs.Int64Var(&f.balance, "balance", 1_000_000, "ledger mode: initial balance of created accounts (minor units)")
	fs.BoolVar(&f.create, "create-accounts", true, "ledger mode: create the accounts first (existing ones are kept)")
	fs.StringVar(&f.mix, "mix", "transfer=1", "ledger mode: operation shares, e.g. transfer=0.9,read=0.08,stale=0.02")
	fs.Float64Var(&w.Zipf, "zipf", 0, "ledger mode: Zipf exponent (> 1) for hot accounts; 0 is uniform")
	fs.Float64Var(&w.Duplicates, "duplicates", 0, "ledger mode: share of transfers resubmitted with the same idempotency key")
	fs.StringVar(&f.regions, "regions", "local", "ledger mode: client region labels, comma-separated")
	fs.Uint64Var(&w.Seed, "seed", 1, "ledger mode: workload seed")
	fs.Int64Var(&w.MinAmount, "min-amount", 1, "ledger mode: smallest transfer amount (minor units)")
	fs.Int64Var(&w.MaxAmount, "max-amount", 100, "ledger mode: largest transfer amount (minor units)")
	fs.StringVar(&f.out, "out", "", "write summary.json, timeseries.csv, junit.xml and report.html into this directory")
	fs.BoolVar(&f.history, "history", false, "record every operation and write history.bin (needs --out)")
	fs.IntVar(&f.historyCap, "history-cap", 5_000_000, "most operations the history keeps (~70 bytes each)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.StringVar(&f.signKey, "sign-key", "", "ledger mode: sign every request with this hex HMAC key (drive a gateway: --ledger gw=URL --sign-key KEY, as paylab lab up prints)")
	fs.IntVar(&f.metricsPort, "metrics", -1, "serve Prometheus metrics on 127.0.0.1:PORT (0 picks a port; -1 off)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	return f.run(ctx, set, stdout, stderr)
}

// run drives the endpoint the flags name with lab/load's engine and prints the summary.
func (f *loadFlags) run(ctx context.Context, set map[string]bool, stdout, stderr io.Writer) error {
	if (f.http.URL == "") == (f.ledgerNodes == "") {
		return fmt.Errorf("%w: give exactly one of --url and --ledger", errUsage)
	}
	if f.history && f.out == "" {
		return fmt.Errorf("%w: --history needs --out DIR to write history.bin into", errUsage)
	}
	cfg, err := f.config(set)
	if err != nil {
		return err
	}
	op, closeTarget, note, err := f.target(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeTarget()
	opts := load.SessionOptions{Config: cfg, MetricsPort: f.metricsPort, History: f.history, HistoryCap: f.historyCap}
	sess, err := load.NewSession(opts)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer sess.Close()
	if addr := sess.MetricsAddr(); addr != "" {
		fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", addr)
	}
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Fprintf(stderr, "paylab load: %s for %v …\n", describeLoad(cfg), cfg.Duration)
	rep, runErr := sess.Run(ctx, op)
	if rep == nil {
		return fmt.Errorf("run load: %w", runErr)
	}
	notes := []string{note}
	if runErr != nil {
		notes = append(notes, "interrupted: "+runErr.Error())
		fmt.Fprintf(stderr, "paylab load: interrupted (%v); summary of what was sent:\n", runErr)
	}
	return f.print(stdout, sess, rep, notes)
}

// print prints the summary and, with --out, writes the run directory.
func (f *loadFlags) print(stdout io.Writer, sess *load.Session, rep *load.Report, notes []string) error {
	fmt.Fprintln(stdout)
	if err := rep.WriteSummary(stdout); err != nil {
		return fmt.Errorf("print summary: %w", err)
	}
	hist := sess.History()
	if hist != nil && hist.Dropped() > 0 {
		fmt.Fprintf(stdout, "  history       : full at %d operations, %d not kept (raise --history-cap)\n", hist.Len(), hist.Dropped())
	}
	if f.out == "" {
		return nil
	}
	if err := sess.Write(f.out, rep, notes); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n  results       : %s (report.html, summary.json, timeseries.csv, latency.hlog, junit.xml%s)\n", f.out, map[bool]string{true: ", history.bin"}[hist != nil])
	return nil
}

func describeLoad(cfg load.Config) string {
	if cfg.Clients > 0 {
		return fmt.Sprintf("closed model, %d clients", cfg.Clients)
	}
	if s, ok := cfg.Pacer.(fmt.Stringer); ok {
		return "open model, " + s.String()
	}
	return "open model"
}
