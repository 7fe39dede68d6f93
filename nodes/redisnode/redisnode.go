// Package redisnode runs one region's Redis for a lab: a real `redis-server` process on a loopback port,
// or — announced, when the binary is not installed — an embedded miniredis whose clock follows wall time,
// or an external server named by a redis:// URL on 127.0.0.0/8. The gateways' caches, locks, idempotency
// keys and rate limits live in it (nodes/gateway); every gateway reaches it through its own toxiproxy link.
//
// A server started here never outlives the lab: the process is in its own process group, is killed with
// the lab (Linux PR_SET_PDEATHSIG), persists nothing (`--save "" --appendonly no`) and keeps its working
// directory under the lab's temporary directory, which Close removes.
package redisnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"paylab/loopback"
)

// Kind says what serves a region's Redis.
type Kind string

// The kinds of server.
const (
	// KindServer is a `redis-server` child process (the real part; the default when installed).
	KindServer Kind = "redis-server"
	// KindEmbedded is github.com/alicebob/miniredis in the lab's process, the announced fallback when
	// `redis-server` is not installed: it speaks RESP, runs EVAL (Lua) and expires keys, but is not Redis
	// (single goroutine per command, no eviction policy, no replication).
	KindEmbedded Kind = "miniredis"
	// KindExternal is a server the user runs, named by Config.URL (REDIS_URL); the lab neither starts nor
	// stops it, and flushes nothing in it.
	KindExternal Kind = "external"
)

// Errors of Start, Kill and Restart; match them with errors.Is.
var (
	// ErrNotInstalled is returned by Start with Config.Require when `redis-server` is not on PATH.
	ErrNotInstalled = errors.New("redis-server is not installed")
	// ErrStopped: Kill of a server that is already down (killed and not restarted, or closed).
	ErrStopped = errors.New("redis is not running")
	// ErrRunning: Restart of a server that is up.
	ErrRunning = errors.New("redis is already running")
	// ErrExternal: Kill or Restart of an external server, which the lab never stops.
	ErrExternal = errors.New("an external redis is not the lab's to stop")
)

// Config describes one server to start.
type Config struct {
	// Name labels the server in errors and process listings (e.g. "redis:us-east").
	Name string
	// Dir is the server's working directory (created if missing; redis-server writes its log there and it
	// is kept). Default: a new temporary directory, which Close removes.
	Dir string
	// URL, when set, names an external server ("redis://127.0.0.1:6379/0"); its host must be a loopback
	// address (the lab never targets another machine).
	URL string
	// Binary is the redis-server executable (default: "redis-server" looked up on PATH).
	Binary string
	// Require refuses the embedded fallback: Start fails with ErrNotInstalled instead.
	Require bool
	// Ready bounds the wait for a started server to answer PING (default 10 s).
	Ready time.Duration
	// Tick is how often the embedded server's clock is moved to wall time (default 10 ms): miniredis
	// expires keys only when its clock is advanced, and a lab's TTLs must expire as Redis's do.
	Tick time.Duration
}

// Server is one running Redis. Close stops it (unless external) and removes its directory.
type Server struct {
	kind Kind
	addr string
	db   int
	name string

	path  string // the redis-server binary, for Restart
	ready time.Duration

	pid     atomic.Int64 // the redis-server process id while it runs, for Pid
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	mini    *miniredis.Miniredis
	stop    chan struct{} // stops the embedded clock
	wg      sync.WaitGroup
	dir     string
	ownDir  bool
	closeMu sync.Mutex // serialises Kill, Restart and Close
	closed  bool
	down    bool // killed and not restarted
}

// Start starts (or, for a URL, connects to) one server and waits until it answers PING. Errors: a bad or
// non-loopback URL (loopback.ErrNotLoopback), ErrNotInstalled with Require, a server that does not start
// or answer within Config.Ready; nothing is left running after an error.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Name == "" {
		cfg.Name = "redis"
	}
	if cfg.Ready == 0 {
		cfg.Ready = 10 * time.Second
	}
	if cfg.Tick == 0 {
		cfg.Tick = 10 * time.Millisecond
	}
	if cfg.URL != "" {
		return external(ctx, cfg)
	}
	bin := cfg.Binary
	if bin == "" {
		bin = "redis-server"
	}
	path, lookErr := exec.LookPath(bin)
	if lookErr != nil && cfg.Require {
		return nil, fmt.Errorf("start %s: %w (%v)", cfg.Name, ErrNotInstalled, lookErr)
	}
	s := &Server{name: cfg.Name, dir: cfg.Dir, ready: cfg.Ready}
	if s.dir == "" {
		d, err := os.MkdirTemp("", "paylab-redis-")
		if err != nil {
			return nil, fmt.Errorf("start %s: temp dir: %w", cfg.Name, err)
		}
		s.dir, s.ownDir = d, true
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Name, err)
	}
	// redis-server changes into --dir before it opens --logfile: both must be absolute.
	if abs, err := filepath.Abs(s.dir); err == nil {
		s.dir = abs
	}
	var err error
	if lookErr == nil {
		s.kind, s.path = KindServer, path
		err = s.startProcess(ctx, cfg)
	} else {
		s.kind = KindEmbedded
		err = s.startEmbedded(cfg)
	}
	if err == nil {
		err = s.waitReady(ctx, cfg.Ready)
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("start %s (%s): %w", cfg.Name, s.kind, err)
	}
	return s, nil
}

func external(ctx context.Context, cfg Config) (*Server, error) {
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: REDIS_URL %q: %w", cfg.Name, cfg.URL, err)
	}
	if err := loopback.Check(opts.Addr); err != nil {
		return nil, fmt.Errorf("%s: REDIS_URL %q: %w", cfg.Name, cfg.URL, err)
	}
	s := &Server{kind: KindExternal, addr: opts.Addr, db: opts.DB, name: cfg.Name}
	if err := s.waitReady(ctx, cfg.Ready); err != nil {
		return nil, fmt.Errorf("%s: REDIS_URL %q: %w", cfg.Name, cfg.URL, err)
	}
	return s, nil
}

// startProcess runs redis-server on a free loopback port below the ephemeral range (loopback.FreeAddr);
// a port taken between the probe and redis-server's own bind makes it exit, and another is tried.
func (s *Server) startProcess(ctx context.Context, cfg Config) error {
	var lastErr error
	for range 5 {
		addr, err := loopback.FreeAddr("127.0.0.1")
		if err != nil {
			return err
		}
		if lastErr = s.spawn(ctx, addr, cfg.Ready); lastErr == nil {
			return nil
		}
		if ctx.Err() != nil {
			return lastErr
		}
	}
	return fmt.Errorf("redis-server did not come up after 5 ports (see %s): %w", filepath.Join(s.dir, "redis.log"), lastErr)
}

// spawn runs redis-server on addr and waits until it answers; on failure nothing is left running.
func (s *Server) spawn(ctx context.Context, addr string, ready time.Duration) error {
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(s.path,
		"--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", s.dir, "--daemonize", "no", "--protected-mode", "yes", "--loglevel", "warning",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", s.path, err)
	}
	s.cmd, s.addr, s.exited = cmd, addr, make(chan struct{})
	s.pid.Store(int64(cmd.Process.Pid))
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(s.exited)
	if err := s.waitReady(ctx, ready); err != nil {
		s.killProcess(syscall.SIGTERM)
		return err
	}
	return nil
}

// startEmbedded serves miniredis on a loopback port and drives its clock from wall time.
func (s *Server) startEmbedded(cfg Config) error {
	m := miniredis.NewMiniRedis()
	var lastErr error
	for range 5 {
		addr, err := loopback.FreeAddr("127.0.0.1")
		if err != nil {
			return err
		}
		if lastErr = m.StartAddr(addr); lastErr == nil {
			s.mini, s.addr = m, addr
			break
		}
	}
	if s.mini == nil {
		return fmt.Errorf("embedded redis: %w", lastErr)
	}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go s.driveClock(cfg.Tick)
	return nil
}

// driveClock advances miniredis's clock with wall time, so keys expire as on a real server (to within
// one tick).
func (s *Server) driveClock(tick time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	s.mini.SetTime(last)
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mini.FastForward(now.Sub(last))
			s.mini.SetTime(now)
			last = now
		}
	}
}

func (s *Server) waitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: s.addr, DB: s.db, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	var err error
	for {
		if err = c.Ping(ctx).Err(); err == nil {
			return nil
		}
		if s.exited != nil {
			select {
			case <-s.exited:
				return fmt.Errorf("redis-server exited before answering: %w", err)
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer to PING on %s within %v: %w", s.addr, within, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kind says what serves this Redis.
func (s *Server) Kind() Kind { return s.kind }

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// DB is the database number clients select (from the URL; 0 otherwise).
func (s *Server) DB() int { return s.db }

// Pid is the redis-server process id, 0 for the embedded or an external server.
func (s *Server) Pid() int { return int(s.pid.Load()) }

// Client returns a go-redis client for this server; the caller closes it. Pass the address of a toxiproxy
// link in via to reach the server through it ("" dials the server directly).
func (s *Server) Client(via string) *redis.Client {
	addr := s.addr
	if via != "" {
		addr = via
	}
	return redis.NewClient(&redis.Options{Addr: addr, DB: s.db})
}

// URL is the server's redis:// URL.
func (s *Server) URL() string {
	return (&url.URL{Scheme: "redis", Host: s.addr, Path: "/" + strconv.Itoa(s.db)}).String()
}

// killProcess sends the redis-server's whole process group sig (SIGTERM: SIGKILL after 3 s) and waits
// for it to exit.
func (s *Server) killProcess(sig syscall.Signal) {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	// The whole process group: redis-server forks for nothing when nothing is saved, but a group kill is
	// what guarantees no child survives.
	_ = syscall.Kill(-s.cmd.Process.Pid, sig)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
	s.pid.Store(0)
}

// Kill stops the server abruptly, as a crash does: a redis-server's process group gets SIGKILL (Kill
// returns once it has exited), the embedded server stops listening and drops its connections. Its address
// stays the server's, for Restart. Errors: ErrStopped when it is already down, ErrExternal for an external
// server.
func (s *Server) Kill() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	switch {
	case s.kind == KindExternal:
		return fmt.Errorf("kill %s: %w", s.name, ErrExternal)
	case s.closed || s.down:
		return fmt.Errorf("kill %s: %w", s.name, ErrStopped)
	}
	s.killProcess(syscall.SIGKILL)
	if s.mini != nil {
		s.mini.Close()
	}
	s.down = true
	return nil
}

// Restart starts a killed server again on its old address, empty (nothing was persisted), and returns once
// it answers PING. Errors: ErrRunning when it is up, ErrExternal, ErrStopped after Close, or a server that
// does not come up (the address taken meanwhile) — it then stays down and Restart may be called again.
func (s *Server) Restart(ctx context.Context) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	switch {
	case s.kind == KindExternal:
		return fmt.Errorf("restart %s: %w", s.name, ErrExternal)
	case s.closed:
		return fmt.Errorf("restart %s: %w", s.name, ErrStopped)
	case !s.down:
		return fmt.Errorf("restart %s: %w", s.name, ErrRunning)
	}
	if s.mini != nil {
		s.mini.FlushAll() // miniredis keeps its values across Close; a restarted Redis has none
		if err := s.mini.Restart(); err != nil {
			return fmt.Errorf("restart %s on %s: %w", s.name, s.addr, err)
		}
		if err := s.waitReady(ctx, s.ready); err != nil {
			s.mini.Close()
			return fmt.Errorf("restart %s on %s: %w", s.name, s.addr, err)
		}
	} else if err := s.spawn(ctx, s.addr, s.ready); err != nil {
		return fmt.Errorf("restart %s on %s (see %s): %w", s.name, s.addr, filepath.Join(s.dir, "redis.log"), err)
	}
	s.down = false
	return nil
}

// Close stops the server (a redis-server process: SIGTERM, then SIGKILL after 3 s; the embedded one and its
// clock) and removes its directory. An external server is left as it is. Close is idempotent.
func (s *Server) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.killProcess(syscall.SIGTERM)
	if s.mini != nil {
		close(s.stop)
		s.wg.Wait()
		if !s.down {
			s.mini.Close()
		}
	}
	if s.ownDir {
		_ = os.RemoveAll(s.dir)
	}
}
