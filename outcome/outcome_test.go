package outcome_test

import (
	"encoding/json"
	"testing"

	"paylab/outcome"
)

func TestKindNamesRoundTrip(t *testing.T) {
	want := []string{"ok", "rejected", "failed", "unknown"}
	for k := outcome.Kind(0); k < outcome.NumKinds; k++ {
		if k.String() != want[k] {
			t.Fatalf("kind %d is %q, want %q (the names are on disk: history, summary.json, timeseries.csv)", k, k, want[k])
		}
		got, err := outcome.Parse(k.String())
		if err != nil || got != k {
			t.Fatalf("Parse(%q) = %v, %v; want %v", k, got, err, k)
		}
		b, err := json.Marshal(k)
		if err != nil || string(b) != `"`+want[k]+`"` {
			t.Fatalf("json of %v = %s, %v", k, b, err)
		}
		var back outcome.Kind
		if err := json.Unmarshal(b, &back); err != nil || back != k {
			t.Fatalf("json round trip of %v = %v, %v", k, back, err)
		}
	}
	if outcome.NumKinds.Valid() {
		t.Fatal("NumKinds is not a kind")
	}
	if _, err := outcome.Parse("maybe"); err == nil {
		t.Fatal(`Parse("maybe") succeeded`)
	}
}
