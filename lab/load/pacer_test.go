package load

import (
	"math"
	"testing"
	"time"
)

// schedule replays a pacer the way the generator does and returns the due times until it stops
// or until limit.
func schedule(p Pacer, limit time.Duration) []time.Duration {
	var out []time.Duration
	var prev time.Duration
	for hits := uint64(0); hits < 1_000_000; hits++ {
		w, stop := p.Pace(prev, hits)
		if stop || prev+w >= limit {
			break
		}
		prev += w
		out = append(out, prev)
	}
	return out
}

func TestPacersScheduleTheRequestedRate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		p     Pacer
		limit time.Duration
		want  int
	}{
		{"constant", ConstantPacer{Rate: 1000}, time.Second, 1000},
		{"constant fractional", ConstantPacer{Rate: 2.5}, 10 * time.Second, 25},
		{"ramp up", LinearPacer{Start: 100, End: 300, Over: 2 * time.Second}, 2 * time.Second, 400},
		{"ramp then hold", LinearPacer{Start: 0, End: 100, Over: time.Second}, 2 * time.Second, 150},
		{"ramp down", LinearPacer{Start: 300, End: 100, Over: 2 * time.Second}, 2 * time.Second, 400},
		{"steps", StepsPacer{Steps: []Step{{Rate: 100, For: time.Second}, {Rate: 0, For: time.Second}, {Rate: 300, For: time.Second}}}, time.Hour, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due := schedule(tc.p, tc.limit)
			if math.Abs(float64(len(due)-tc.want)) > 1 {
				t.Fatalf("%d requests scheduled, want %d ± 1", len(due), tc.want)
			}
			for i := 1; i < len(due); i++ {
				if due[i] < due[i-1] {
					t.Fatalf("due times go backwards at %d: %v < %v", i, due[i], due[i-1])
				}
			}
			if h, ok := tc.p.(Hitter); ok && tc.limit < time.Hour {
				if got := h.Hits(tc.limit - 1); math.Abs(float64(int(got)-len(due))) > 1 {
					t.Errorf("Hits(%v) = %d, schedule has %d", tc.limit, got, len(due))
				}
			}
		})
	}
}

func TestStepsPacerPausesAndStops(t *testing.T) {
	p := StepsPacer{Steps: []Step{{Rate: 10, For: time.Second}, {Rate: 0, For: time.Second}, {Rate: 10, For: time.Second}}}
	due := schedule(p, time.Hour)
	for _, d := range due {
		if d >= time.Second && d < 2*time.Second {
			t.Fatalf("request due at %v, inside the zero-rate step", d)
		}
	}
	if last := due[len(due)-1]; last >= 3*time.Second {
		t.Fatalf("last request due at %v, after the steps end", last)
	}
	if _, stop := p.Pace(0, 20); !stop {
		t.Fatal("the pacer did not stop after its last step")
	}
}

func TestPaceIsStatelessAndExact(t *testing.T) {
	p := ConstantPacer{Rate: 100}
	if w, _ := p.Pace(0, 5); w != 50*time.Millisecond {
		t.Errorf("wait for request 5 at 0 = %v, want 50ms", w)
	}
	if w, _ := p.Pace(time.Second, 5); w != 0 {
		t.Errorf("wait for an overdue request = %v, want 0", w)
	}
	if _, stop := (ConstantPacer{}).Pace(0, 0); !stop {
		t.Error("a zero-rate constant pacer must stop")
	}
}
