package lab

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"paylab/faults"
	"paylab/nodes/ledger/client"
	"paylab/results"
)

// Bounds of --profile: a CPU profile covers at most maxProfileSpan of a fault window, and a run captures
// for at most maxProfiledFaults faults.
const (
	maxProfileSpan    = 5 * time.Second
	maxProfiledFaults = 20
)

// profiler captures pprof data over loopback from the nodes' own endpoints during each fault window: a
// goroutine dump of the leader and of one gateway just after the fault is injected, and a CPU profile of the
// leader across the window (up to maxProfileSpan). In the in-process lab every node shares one process, so a
// CPU profile covers all of them; with separate processes each endpoint profiles its own node.
type profiler struct {
	l   *Lab
	dir string
	out io.Writer
	hc  *http.Client

	mu       sync.Mutex
	profiles []results.Profile
	notes    []string
	wg       sync.WaitGroup
}

func newProfiler(l *Lab, runDir string, out io.Writer) *profiler {
	return &profiler{l: l, dir: runDir, out: out, hc: &http.Client{}}
}

// start schedules the captures for every inject step of the timeline, relative to t0; they stop with ctx.
func (p *profiler) start(ctx context.Context, steps []faults.Step, duration time.Duration) {
	n := 0
	for i, st := range steps {
		if st.Inject == nil || n == maxProfiledFaults {
			continue
		}
		n++
		end := duration
		for _, h := range steps[i+1:] {
			if h.Inject == nil && h.Heal == st.Inject.Name() && strings.TrimSpace(h.Target) == strings.TrimSpace(st.Inject.Target()) {
				end = h.At
				break
			}
		}
		label := strings.TrimSpace(st.Inject.Name() + " " + st.Inject.Target())
		span := min(maxProfileSpan, end-st.At-200*time.Millisecond)
		at := st.At
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.capture(ctx, n, label, at, span)
		}()
	}
}

// wait waits for every capture and returns what was taken, with notes on what could not be.
func (p *profiler) wait() ([]results.Profile, []string) {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.profiles, p.notes
}

func (p *profiler) capture(ctx context.Context, n int, label string, at, span time.Duration) {
	if wait := at + 100*time.Millisecond - p.l.Elapsed(); wait > 0 {
		client.Sleep(ctx, wait)
	}
	if ctx.Err() != nil {
		return
	}
	base := fmt.Sprintf("%02d-%s", n, sanitize(label))
	// The fault may have just deposed the leader, and on a busy machine an election can take seconds: wait
	// for one while the window still leaves a second for a CPU profile (at least a second in any case).
	leaderURL, leader := "", ""
	began := time.Now()
	for deadline := began.Add(max(time.Second, span-time.Second)); time.Now().Before(deadline) && ctx.Err() == nil; client.Sleep(ctx, 20*time.Millisecond) {
		if id, ok := p.l.LeaderNode(); ok {
			leaderURL, leader = p.l.httpURL(id), string(id)
			break
		}
	}
	waited := time.Since(began)
	span -= waited
	var targets [][2]string // node, URL
	if leaderURL != "" {
		targets = append(targets, [2]string{leader, leaderURL})
	} else {
		p.note("profile %s: no leader within %v of the fault; leader captures skipped", label, waited.Round(time.Millisecond))
	}
	if gw := p.l.firstGatewayURL(); gw[1] != "" {
		targets = append(targets, gw)
	}
	for _, t := range targets {
		file := filepath.Join("profiles", fmt.Sprintf("%s-goroutines-%s.txt", base, sanitize(t[0])))
		p.fetch(ctx, t[1]+"/debug/pprof/goroutine?debug=2", file, 10*time.Second, results.Profile{Fault: label, At: p.l.Elapsed(), Kind: "goroutine", Node: t[0], File: file})
	}
	if leaderURL == "" || span < time.Second {
		if span < time.Second {
			p.note("profile %s: window too short for a CPU profile", label)
		}
		return
	}
	secs := int(span / time.Second)
	file := filepath.Join("profiles", fmt.Sprintf("%s-cpu-%s.pprof", base, sanitize(leader)))
	p.fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", leaderURL, secs), file, time.Duration(secs)*time.Second+10*time.Second,
		results.Profile{Fault: label, At: p.l.Elapsed(), Span: time.Duration(secs) * time.Second, Kind: "cpu", Node: leader, File: file})
}

func (p *profiler) fetch(ctx context.Context, url, file string, timeout time.Duration, meta results.Profile) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := p.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
		}
		path := filepath.Join(p.dir, file)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, io.LimitReader(resp.Body, 256<<20)); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		p.note("profile %s (%s of %s): %v", meta.Fault, meta.Kind, meta.Node, err)
		return
	}
	p.mu.Lock()
	p.profiles = append(p.profiles, meta)
	p.mu.Unlock()
	fmt.Fprintf(p.out, "  profile: %s\n", file)
}

func (p *profiler) note(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notes = append(p.notes, fmt.Sprintf(format, args...))
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}
