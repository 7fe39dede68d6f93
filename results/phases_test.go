package results

import (
	"testing"
	"time"
)

// The phase vocabulary: steady ends one request timeout before the first fault, on a whole second;
// each fault has a during and an after phase; a repeated fault is numbered.
func TestStandardPhases(t *testing.T) {
	s := time.Second
	events := []Event{
		{At: 14 * s, Until: 16 * s, Kind: EventFault, Name: "latency"},
		{At: 6500 * time.Millisecond, Until: 10 * s, Kind: EventFault, Name: "latency"},
		{At: 3 * s, Kind: EventLeader, Name: "leader"},
	}
	got := StandardPhases(20*s, 2*s, events)
	want := []Phase{
		{Name: "all", Start: 0, End: 20 * s},
		{Name: "steady", Start: 0, End: 4 * s},
		{Name: "during:latency", Start: 6500 * time.Millisecond, End: 10 * s},
		{Name: "after:latency", Start: 10 * s, End: 14 * s},
		{Name: "during:latency#2", Start: 14 * s, End: 16 * s},
		{Name: "after:latency#2", Start: 16 * s, End: 20 * s},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d phases %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Start != want[i].Start || got[i].End != want[i].End {
			t.Errorf("phase %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if p := StandardPhases(5*s, s, nil); len(p) != 2 || p[1].End != 5*s {
		t.Errorf("no faults: %+v, want steady over the whole run", p)
	}
}
