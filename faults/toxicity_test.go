package faults

import (
	"testing"
)

// TestToxicityZeroReachesTheToxics: a step that turns a fault down to toxicity 0 must build toxics that act on
// no connection, not on all of them (issue 10); a step that leaves toxicity out gets the default, 1.
func TestToxicityZeroReachesTheToxics(t *testing.T) {
	for _, tc := range []struct {
		params map[string]any
		want   float32
	}{
		{map[string]any{"latency": "10ms", "toxicity": 0}, 0},
		{map[string]any{"latency": "10ms", "toxicity": "0%"}, 0},
		{map[string]any{"latency": "10ms", "toxicity": 0.5}, 0.5},
		{map[string]any{"latency": "10ms"}, 1},
	} {
		k, _ := Lookup("latency")
		f, err := k.New(catalogueTopology(), "us-east/a", tc.params)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := f.(*linkFault).plan(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.toxics) == 0 {
			t.Fatal("no toxics")
		}
		for _, lt := range plan.toxics {
			if lt.Toxic.Toxicity == nil || *lt.Toxic.Toxicity != tc.want {
				t.Fatalf("%v: toxic on %s has toxicity %v, want %v", tc.params, lt.Link, lt.Toxic.Toxicity, tc.want)
			}
		}
	}
}
