package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"zone-dwn", "zone-down", 1}, {"kitten", "sitting", 3},
		{"flaw", "lawn", 2}, {"durée", "duree", 1},
	} {
		if got := Distance(tc.a, tc.b); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := Distance(tc.b, tc.a); got != tc.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestClosest(t *testing.T) {
	faults := []string{"latency", "zone-down", "region-down", "leader-kill", "partition"}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"zone-dwn", "zone-down", true},
		{"latncy", "latency", true},
		{"leader_kill", "leader-kill", true},
		{"meteor", "", false},
		{"zone-down", "", false}, // known: nothing to suggest
		{"x", "", false},
	} {
		got, ok := Closest(tc.name, faults)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Closest(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if got := DidYouMean("zone-dwn", faults); got != "; did you mean zone-down?" {
		t.Errorf("DidYouMean = %q", got)
	}
}
