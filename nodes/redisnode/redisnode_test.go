package redisnode

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"paylab/loopback"
)

// patience bounds waits for things that must happen; a test fails only when they never do.
const patience = 30 * time.Second

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), patience)
	t.Cleanup(cancel)
	return c
}

// expires sets a key with a 50 ms TTL and waits until the server no longer has it: TTLs must expire on
// their own, as a lab's cache and lock TTLs rely on.
func expires(t *testing.T, s *Server) {
	t.Helper()
	c := s.Client("")
	defer c.Close()
	if err := c.Set(ctx(t), "k", "v", 50*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(patience)
	for {
		n, err := c.Exists(ctx(t), "k").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: a key with a 50 ms TTL still exists after %v", s.Kind(), patience)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// evalWorks runs a Lua script, as the rate limiter does.
func evalWorks(t *testing.T, s *Server) {
	t.Helper()
	c := s.Client("")
	defer c.Close()
	n, err := c.Eval(ctx(t), "return redis.call('INCRBY', KEYS[1], ARGV[1])", []string{"n"}, 5).Int64()
	if err != nil || n != 5 {
		t.Fatalf("%s: EVAL = %d, %v; want 5", s.Kind(), n, err)
	}
}

func TestRedisServerProcessStartsServesAndStops(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (the embedded fallback is tested below)")
	}
	s, err := Start(ctx(t), Config{Name: "redis:test", Require: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != KindServer || s.Pid() == 0 {
		t.Fatalf("kind %s pid %d, want a redis-server process", s.Kind(), s.Pid())
	}
	if err := loopback.Check(s.Addr()); err != nil {
		t.Fatal(err)
	}
	expires(t, s)
	evalWorks(t, s)
	pid, dir := s.Pid(), s.dir
	s.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("redis-server %d still exists after Close: %v", pid, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("working directory %s left behind: %v", dir, err)
	}
	s.Close() // idempotent
}

func TestEmbeddedFallbackExpiresKeysOnWallTime(t *testing.T) {
	s, err := Start(ctx(t), Config{Name: "redis:test", Binary: "/nonexistent/redis-server"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Kind() != KindEmbedded || s.Pid() != 0 {
		t.Fatalf("kind %s pid %d, want the embedded server", s.Kind(), s.Pid())
	}
	expires(t, s)
	evalWorks(t, s)
}

func TestRequireRefusesTheFallback(t *testing.T) {
	_, err := Start(ctx(t), Config{Binary: "/nonexistent/redis-server", Require: true})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("err = %v, want ErrNotInstalled", err)
	}
}

func TestExternalURLMustBeLoopbackAndIsLeftRunning(t *testing.T) {
	if _, err := Start(ctx(t), Config{URL: "redis://10.1.2.3:6379/0", Ready: time.Second}); !errors.Is(err, loopback.ErrNotLoopback) {
		t.Fatalf("non-loopback URL: %v, want ErrNotLoopback", err)
	}
	if _, err := Start(ctx(t), Config{URL: "http://%zz"}); err == nil {
		t.Fatal("a malformed URL was accepted")
	}
	inner, err := Start(ctx(t), Config{Binary: "/nonexistent/redis-server"})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	ext, err := Start(ctx(t), Config{URL: "redis://" + inner.Addr() + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	if ext.Kind() != KindExternal || ext.Addr() != inner.Addr() {
		t.Fatalf("external: kind %s addr %s", ext.Kind(), ext.Addr())
	}
	ext.Close()
	evalWorks(t, inner) // still serving: the lab does not stop what it did not start
}

// killAndRestart: Kill takes the server down (PING fails, a redis-server process is gone), Restart brings
// it back on the same address, empty; killing twice and restarting a running server are refused.
func killAndRestart(t *testing.T, s *Server) {
	t.Helper()
	c := s.Client("")
	defer c.Close()
	if err := c.Set(ctx(t), "before", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr, pid := s.Addr(), s.Pid()
	if err := s.Restart(ctx(t)); !errors.Is(err, ErrRunning) {
		t.Fatalf("%s: Restart of a running server: %v, want ErrRunning", s.Kind(), err)
	}
	if err := s.Kill(); err != nil {
		t.Fatalf("%s: Kill: %v", s.Kind(), err)
	}
	if pid != 0 {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Fatalf("redis-server %d still exists after Kill: %v", pid, err)
		}
	}
	if s.Pid() != 0 {
		t.Fatalf("%s: Pid %d after Kill, want 0", s.Kind(), s.Pid())
	}
	if err := c.Ping(ctx(t)).Err(); err == nil {
		t.Fatalf("%s: PING answered after Kill", s.Kind())
	}
	if err := s.Kill(); !errors.Is(err, ErrStopped) {
		t.Fatalf("%s: second Kill: %v, want ErrStopped", s.Kind(), err)
	}
	if err := s.Restart(ctx(t)); err != nil {
		t.Fatalf("%s: Restart: %v", s.Kind(), err)
	}
	if s.Addr() != addr {
		t.Fatalf("%s: restarted on %s, want the old address %s", s.Kind(), s.Addr(), addr)
	}
	if pid != 0 && (s.Pid() == 0 || s.Pid() == pid) {
		t.Fatalf("restarted redis-server has pid %d (before: %d), want a new process", s.Pid(), pid)
	}
	n, err := c.Exists(ctx(t), "before").Result()
	if err != nil || n != 0 {
		t.Fatalf("%s: after Restart EXISTS before = %d, %v; want 0 (a restarted cache is empty)", s.Kind(), n, err)
	}
	expires(t, s)
	evalWorks(t, s)
}

func TestRedisServerKillRestartsEmptyOnTheSameAddress(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (the embedded one is tested below)")
	}
	s, err := Start(ctx(t), Config{Name: "redis:test", Require: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	killAndRestart(t, s)
	if err := s.Kill(); err != nil { // Close of a killed server leaves nothing behind
		t.Fatal(err)
	}
	s.Close()
	if err := s.Restart(ctx(t)); !errors.Is(err, ErrStopped) {
		t.Fatalf("Restart after Close: %v, want ErrStopped", err)
	}
}

func TestEmbeddedKillRestartsEmptyOnTheSameAddress(t *testing.T) {
	s, err := Start(ctx(t), Config{Name: "redis:test", Binary: "/nonexistent/redis-server"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	killAndRestart(t, s)
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	s.Close() // a killed embedded server closes once
}

func TestExternalIsNeitherKilledNorRestarted(t *testing.T) {
	inner, err := Start(ctx(t), Config{Binary: "/nonexistent/redis-server"})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	ext, err := Start(ctx(t), Config{URL: "redis://" + inner.Addr() + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := ext.Kill(); !errors.Is(err, ErrExternal) {
		t.Fatalf("Kill of an external server: %v, want ErrExternal", err)
	}
	if err := ext.Restart(ctx(t)); !errors.Is(err, ErrExternal) {
		t.Fatalf("Restart of an external server: %v, want ErrExternal", err)
	}
	evalWorks(t, inner)
}
