package faults

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/redis/go-redis/v9"

	"paylab/regions"
	"paylab/results"
)

// clockLab is an Env with nothing but a clock and an event sink, for
// timeline tests in virtual time (synctest): faults that need a network,
// DNS or nodes cannot run on it.
type clockLab struct {
	start  time.Time
	mu     sync.Mutex
	events []results.Event
}

var _ Env = (*clockLab)(nil)

func (c *clockLab) Network() *regions.Network { return nil }
func (c *clockLab) Redis(string) (*redis.Client, bool, error) {
	return nil, false, ErrNoRedis
}
func (c *clockLab) DNS() *regions.DNSServer            { return nil }
func (c *clockLab) Nodes() []regions.NodeID            { return nil }
func (c *clockLab) LeaderNode() (regions.NodeID, bool) { return "", false }
func (c *clockLab) Elapsed() time.Duration             { return time.Since(c.start) }
func (c *clockLab) CrashNode(context.Context, regions.NodeID) error {
	return errors.New("clockLab runs no nodes")
}
func (c *clockLab) RestartNode(context.Context, regions.NodeID) error {
	return errors.New("clockLab runs no nodes")
}
func (c *clockLab) SetClientsIgnoreTTL(string, float64) (float64, error) {
	return 0, errors.New("clockLab has no clients")
}
func (c *clockLab) Record(e results.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

func (c *clockLab) recorded() []results.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// timedFault stands in for a catalogue fault whose inject and heal take a
// fixed time (toxiproxy calls, a restart).
type timedFault struct {
	name, target         string
	injectTook, healTook time.Duration
}

func (f *timedFault) Name() string   { return f.name }
func (f *timedFault) Target() string { return f.target }
func (f *timedFault) Inject(ctx context.Context, _ Env) error {
	time.Sleep(f.injectTook)
	return nil
}
func (f *timedFault) Heal(ctx context.Context, _ Env) error {
	time.Sleep(f.healTook)
	return nil
}

// oneShotFault is a timedFault whose effect is over when Inject returns.
type oneShotFault struct{ timedFault }

func (oneShotFault) OneShot() {}

// The timeline runs each step exactly at its time, or at once when an
// earlier step made it late, and records each fault's window from the start
// of its inject to the end of its heal. Virtual time makes every figure
// exact; TestTimelineRunsOnScheduleRecordsWindowsAndHealsTheRest runs real
// faults on a real lab.
func TestTimelineRunsExactlyOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
		lab := &clockLab{start: time.Now()}
		steps := []Step{
			InjectAt(ms(100), &timedFault{name: "latency", target: "us-east", injectTook: ms(3), healTook: ms(7)}),
			// Its inject takes 120 ms, so the heal due at 300 ms runs late, at 320 ms.
			InjectAt(ms(200), &timedFault{name: "dns-servfail", injectTook: ms(120), healTook: ms(2)}),
			HealAt(ms(300), "latency", "us-east"),
			InjectAt(ms(350), &timedFault{name: "pause", target: "ledger:eu-west/a", healTook: ms(5)}),
			InjectAt(ms(400), &oneShotFault{timedFault{name: "restart", target: "ledger:ap-south/a", injectTook: ms(50)}}),
			InjectAt(10*time.Minute, &timedFault{name: "partition", target: "us-east"}), // never reached
		}
		tl, err := NewTimeline(lab, steps)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- tl.Run(ctx) }()
		time.Sleep(time.Second) // Ctrl-C at 1 s
		if got := len(tl.Active()); got != 2 {
			t.Errorf("%d faults active at 1 s, want 2 (dns-servfail and pause)", got)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want context.Canceled", err)
		}
		if err := tl.HealAll(context.Background()); err != nil {
			t.Fatal(err)
		}
		type window struct {
			name      string
			at, until time.Duration
			detail    string
		}
		var got []window
		for _, e := range lab.recorded() {
			if e.Kind == results.EventFault {
				got = append(got, window{e.Name, e.At, e.Until, e.Detail})
			}
		}
		// HealAll at 1 s heals the last injected first: pause (5 ms), then dns-servfail (2 ms).
		want := []window{
			{"latency", ms(100), ms(327), ""},
			{"restart", ms(400), ms(450), ""},
			{"pause", ms(350), ms(1005), "healed on the lab's way out"},
			{"dns-servfail", ms(200), ms(1007), "healed on the lab's way out"},
		}
		if !slices.Equal(got, want) {
			t.Errorf("fault windows\n got %v\nwant %v", got, want)
		}
	})
}
