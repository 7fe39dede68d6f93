package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"paylab/lab/load"
	"paylab/nodes/gateway"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/client"
	"paylab/outcome"
	"paylab/results"
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
	url, method, body string
	ledgerNodes       string

	rate        float64
	ramp, steps string
	clients     int
	think       time.Duration
	duration    time.Duration
	maxRequests uint64
	workers     int
	maxWorkers  int
	timeout     time.Duration

	accounts   int
	balance    int64
	create     bool
	mix        string
	zipf       float64
	duplicates float64
	regions    string
	seed       uint64
	minAmount  int64
	maxAmount  int64

	out         string
	history     bool
	historyCap  int
	metricsPort int
	cpuProfile  string
	signKey     string
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f loadFlags
	fs := flag.NewFlagSet("paylab load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), loadUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.url, "url", "", "HTTP endpoint to drive (generic mode)")
	fs.StringVar(&f.method, "method", http.MethodGet, "HTTP method in --url mode")
	fs.StringVar(&f.body, "body", "", "request body in --url mode (sent with Content-Type: application/json)")
	fs.StringVar(&f.ledgerNodes, "ledger", "", "ledger nodes as id=URL,id=URL (workload mode)")
	fs.Float64Var(&f.rate, "rate", 100, "constant rate in requests per second (open model)")
	fs.StringVar(&f.ramp, "ramp", "", "linear ramp FROM:TO requests per second over --duration")
	fs.StringVar(&f.steps, "steps", "", "steps RATE:DURATION,... (e.g. 100:5s,1000:10s)")
	fs.IntVar(&f.clients, "clients", 0, "closed model: this many clients back to back instead of a rate")
	fs.DurationVar(&f.think, "think", 0, "closed model: pause between a client's requests")
	fs.DurationVar(&f.duration, "duration", 10*time.Second, "how long to send (hard bound)")
	fs.Uint64Var(&f.maxRequests, "max-requests", 0, "stop after this many requests (0: only --duration bounds)")
	fs.IntVar(&f.workers, "workers", load.DefaultWorkers, "workers started up front")
	fs.IntVar(&f.maxWorkers, "max-workers", 4096, "bound on concurrent requests (and connections)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "per-request timeout; a timed-out write is unknown")
	fs.IntVar(&f.accounts, "accounts", 1000, "ledger mode: number of accounts acc-0 … acc-N-1")
	fs.Int64Var(&f.balance, "balance", 1_000_000, "ledger mode: initial balance of created accounts (minor units)")
	fs.BoolVar(&f.create, "create-accounts", true, "ledger mode: create the accounts first (existing ones are kept)")
	fs.StringVar(&f.mix, "mix", "transfer=1", "ledger mode: operation shares, e.g. transfer=0.9,read=0.08,stale=0.02")
	fs.Float64Var(&f.zipf, "zipf", 0, "ledger mode: Zipf exponent (> 1) for hot accounts; 0 is uniform")
	fs.Float64Var(&f.duplicates, "duplicates", 0, "ledger mode: share of transfers resubmitted with the same idempotency key")
	fs.StringVar(&f.regions, "regions", "local", "ledger mode: client region labels, comma-separated")
	fs.Uint64Var(&f.seed, "seed", 1, "ledger mode: workload seed")
	fs.Int64Var(&f.minAmount, "min-amount", 1, "ledger mode: smallest transfer amount (minor units)")
	fs.Int64Var(&f.maxAmount, "max-amount", 100, "ledger mode: largest transfer amount (minor units)")
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

func (f *loadFlags) run(ctx context.Context, set map[string]bool, stdout, stderr io.Writer) error {
	if (f.url == "") == (f.ledgerNodes == "") {
		return fmt.Errorf("%w: give exactly one of --url and --ledger", errUsage)
	}
	if f.history && f.out == "" {
		return fmt.Errorf("%w: --history needs --out DIR to write history.bin into", errUsage)
	}
	cfg := load.DefaultConfig()
	cfg.Duration, cfg.MaxRequests, cfg.Timeout = f.duration, f.maxRequests, f.timeout
	cfg.Workers, cfg.MaxWorkers = min(f.workers, f.maxWorkers), f.maxWorkers
	pacer, err := f.pacer(set)
	if err != nil {
		return err
	}
	cfg.Pacer = pacer
	if f.clients > 0 {
		cfg.Pacer, cfg.Clients, cfg.ThinkTime = nil, f.clients, f.think
	}

	var op load.OpFunc
	var notes []string
	var closeTarget func()
	if f.url != "" {
		op, closeTarget, err = f.httpOp()
		notes = append(notes, fmt.Sprintf("target: %s %s", f.method, f.url))
	} else {
		op, closeTarget, err = f.ledgerOp(ctx, stderr)
		notes = append(notes, fmt.Sprintf("target: ledger %s", f.ledgerNodes))
	}
	if err != nil {
		return err
	}
	defer closeTarget()

	start := time.Now()
	var metrics *results.Metrics
	if f.metricsPort >= 0 {
		metrics = results.NewMetrics()
		srv, err := metrics.Serve(f.metricsPort)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Close(sctx)
		}()
		fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", srv.Addr())
	}
	rec, err := results.NewRecorder(results.RecorderConfig{Start: start, Horizon: cfg.Duration + cfg.Timeout, Metrics: metrics})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	cfg.Recorder, cfg.Metrics = rec, metrics
	var hist *results.History
	if f.history {
		hist = results.NewHistory(start, f.historyCap)
		cfg.History = hist
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	fmt.Fprintf(stderr, "paylab load: %s for %v …\n", describeLoad(cfg), cfg.Duration)
	rep, runErr := load.Run(ctx, cfg, op)
	if rep == nil {
		return fmt.Errorf("run load: %w", runErr)
	}
	if runErr != nil {
		notes = append(notes, "interrupted: "+runErr.Error())
		fmt.Fprintf(stderr, "paylab load: interrupted (%v); summary of what was sent:\n", runErr)
	}
	fmt.Fprintln(stdout)
	if err := rep.WriteSummary(stdout); err != nil {
		return fmt.Errorf("print summary: %w", err)
	}
	if hist != nil && hist.Dropped() > 0 {
		fmt.Fprintf(stdout, "  history       : full at %d operations, %d not kept (raise --history-cap)\n", hist.Len(), hist.Dropped())
	}
	if f.out == "" {
		return nil
	}
	run := loadRun(start, rep, notes)
	if err := results.WriteDir(f.out, run, hist); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := rec.SaveHistogramLog(f.out); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(stdout, "\n  results       : %s (report.html, summary.json, timeseries.csv, latency.hlog, junit.xml%s)\n", f.out, map[bool]string{true: ", history.bin"}[hist != nil])
	return nil
}

// pacer builds the open-model schedule from --rate, --ramp or --steps.
func (f *loadFlags) pacer(set map[string]bool) (load.Pacer, error) {
	n := 0
	for _, k := range []string{"rate", "ramp", "steps", "clients"} {
		if set[k] {
			n++
		}
	}
	if n > 1 {
		return nil, fmt.Errorf("%w: --rate, --ramp, --steps and --clients are exclusive", errUsage)
	}
	switch {
	case f.ramp != "":
		from, to, ok := strings.Cut(f.ramp, ":")
		a, err1 := strconv.ParseFloat(from, 64)
		b, err2 := strconv.ParseFloat(to, 64)
		if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 || a+b == 0 {
			return nil, fmt.Errorf("%w: --ramp %q: want FROM:TO requests per second, e.g. 100:1000", errUsage, f.ramp)
		}
		return load.LinearPacer{Start: a, End: b, Over: f.duration}, nil
	case f.steps != "":
		var p load.StepsPacer
		for part := range strings.SplitSeq(f.steps, ",") {
			r, d, ok := strings.Cut(strings.TrimSpace(part), ":")
			rate, err1 := strconv.ParseFloat(r, 64)
			dur, err2 := time.ParseDuration(d)
			if !ok || err1 != nil || err2 != nil || rate < 0 || dur <= 0 {
				return nil, fmt.Errorf("%w: --steps %q: step %q is not RATE:DURATION (e.g. 500:5s)", errUsage, f.steps, part)
			}
			p.Steps = append(p.Steps, load.Step{Rate: rate, For: dur})
		}
		if len(p.Steps) > 1000 {
			return nil, fmt.Errorf("%w: --steps has %d steps, at most 1000", errUsage, len(p.Steps))
		}
		return p, nil
	}
	if !(f.rate > 0) {
		return nil, fmt.Errorf("%w: --rate %g must be positive", errUsage, f.rate)
	}
	return load.ConstantPacer{Rate: f.rate}, nil
}

// httpOp is the generic mode: one request per op against --url.
func (f *loadFlags) httpOp() (load.OpFunc, func(), error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("%w: --url %q is not an http(s) URL", errUsage, f.url)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: f.timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        f.maxWorkers,
		MaxIdleConnsPerHost: f.maxWorkers,
		// No MaxConnsPerHost: the workers already bound concurrent requests (and so
		// connections) to --max-workers, and the transport's per-host accounting costs CPU.
		IdleConnTimeout: 90 * time.Second,
	}
	c := &http.Client{Transport: tr}
	method, target, body := f.method, f.url, f.body
	op := func(ctx context.Context, seq uint64, worker int) load.Outcome {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return load.Outcome{Kind: outcome.Failed, Reason: "bad request"}
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return load.Outcome{Kind: outcome.Unknown, Reason: "timeout"}
			}
			return load.Outcome{Kind: outcome.Failed, Reason: "transport error"}
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return load.Outcome{Kind: outcome.OK}
		case resp.StatusCode < 500:
			return load.Outcome{Kind: outcome.Rejected, Reason: "http " + strconv.Itoa(resp.StatusCode)}
		}
		return load.Outcome{Kind: outcome.Failed, Reason: "http " + strconv.Itoa(resp.StatusCode)}
	}
	return op, tr.CloseIdleConnections, nil
}

// ledgerOp is the workload mode against a ledger cluster, through the ledger client.
func (f *loadFlags) ledgerOp(ctx context.Context, stderr io.Writer) (load.OpFunc, func(), error) {
	nodes := map[string]string{}
	for part := range strings.SplitSeq(f.ledgerNodes, ",") {
		id, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || id == "" || !strings.HasPrefix(u, "http") {
			return nil, nil, fmt.Errorf("%w: --ledger %q: want id=http://host:port,…", errUsage, f.ledgerNodes)
		}
		nodes[id] = u
	}
	mix, err := parseMix(f.mix)
	if err != nil {
		return nil, nil, err
	}
	ccfg := client.DefaultConfig(nodes)
	ccfg.MaxConnsPerNode = f.maxWorkers
	ccfg.Deadline = f.timeout
	ccfg.AttemptTimeout = min(ccfg.AttemptTimeout, f.timeout)
	if f.signKey != "" {
		// A gateway: its API mirrors the ledger's, and every request must be signed.
		key, err := hex.DecodeString(f.signKey)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --sign-key: %v", errUsage, err)
		}
		signer, err := gateway.NewSigner(key)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --sign-key: %v", errUsage, err)
		}
		ccfg.Signer = signer
	}
	c, err := client.New(ccfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: ledger client: %v", errUsage, err)
	}
	w := load.Workload{
		Accounts:   f.accounts,
		Mix:        mix,
		Zipf:       f.zipf,
		Duplicates: f.duplicates,
		MinAmount:  f.minAmount,
		MaxAmount:  f.maxAmount,
		Regions:    strings.Split(f.regions, ","),
		Seed:       f.seed,
		// Time-ordered, unique per invocation: ids sort in send order within a run and never
		// collide with an earlier run against the same ledger.
		IDPrefix: "L" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-",
	}
	op, err := w.Op(load.LedgerTarget{Client: c})
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.create {
		accs := make([]ledger.Account, f.accounts)
		for i := range accs {
			accs[i] = ledger.Account{ID: load.AccountID(i), Balance: f.balance}
		}
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		fmt.Fprintf(stderr, "paylab load: creating %d accounts …\n", f.accounts)
		if err := c.CreateAccounts(cctx, accs); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("create accounts: %w", err)
		}
	}
	return op, c.Close, nil
}

// parseMix reads transfer=0.9,read=0.08,stale=0.02.
func parseMix(s string) (load.Mix, error) {
	var m load.Mix
	for part := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		x, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil || x < 0 {
			return m, fmt.Errorf("%w: --mix %q: %q is not name=share", errUsage, s, part)
		}
		switch k {
		case "transfer":
			m.Transfer = x
		case "read":
			m.Read = x
		case "stale", "stale_read":
			m.StaleRead = x
		default:
			return m, fmt.Errorf("%w: --mix %q: unknown operation %q (want transfer, read, stale)", errUsage, s, k)
		}
	}
	return m, nil
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

// loadRun turns a report into the results the report and summary files are written from.
func loadRun(start time.Time, rep *load.Report, notes []string) *results.Run {
	run := &results.Run{
		ID:       start.UTC().Format("20060102T150405Z") + "-load",
		Scenario: "paylab load",
		Started:  start,
		Duration: rep.Elapsed,
		Versions: map[string]string{"go": runtime.Version()},
		Notes:    notes,
		Load: &results.LoadFigures{
			Model: rep.Model, Pacer: rep.Pacer, SendWindow: rep.SendWindow, Requests: rep.Requests, Due: rep.Due,
			Missed: rep.Missed, Late: rep.Late, TargetRate: rep.TargetRate, Rate: rep.Rate,
			PeakWorkers: rep.PeakWorkers, MaxWorkers: rep.MaxWorkers, Limited: rep.Limited, LimitReason: rep.LimitReason,
			SendLag: results.LatencyOf(rep.SendLag), Service: results.LatencyOf(rep.Service),
		},
		Total:   rep.Total,
		Windows: rep.Windows,
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
