package ledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"paylab/assertions"
	"paylab/nodes/ledger"
	"paylab/nodes/ledger/ledgertest"
)

func httpDo(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		t.Fatalf("%s %s: non-JSON answer %q", method, url, raw)
	}
	return resp.StatusCode, out
}

func TestHTTPTransferLifecycle(t *testing.T) {
	c := startCluster(t, ledgertest.Options{Nodes: 1})
	u := c.Leader().URL()
	if code, _ := httpDo(t, "POST", u+"/v1/accounts", `{"id":"acc-1","balance":1000}`); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, _ := httpDo(t, "POST", u+"/v1/accounts", `{"id":"acc-2","balance":0}`); code != 201 {
		t.Fatalf("create: %d", code)
	}
	if code, body := httpDo(t, "POST", u+"/v1/accounts", `{"id":"acc-1","balance":5}`); code != 409 || body["error"] != "exists" {
		t.Fatalf("duplicate create: %d %v", code, body)
	}
	code, body := httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-1","from":"acc-1","to":"acc-2","amount":100}`)
	if code != 200 || body["status"] != "committed" || body["index"] == nil {
		t.Fatalf("transfer: %d %v", code, body)
	}
	code, body = httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-1","from":"acc-1","to":"acc-2","amount":100}`)
	if code != 200 || body["duplicate"] != true {
		t.Fatalf("resubmit: %d %v", code, body)
	}
	if code, body = httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-1","from":"acc-1","to":"acc-2","amount":101}`); code != 409 {
		t.Fatalf("conflicting resubmit: %d %v", code, body)
	}
	code, body = httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-2","from":"acc-1","to":"acc-2","amount":5000}`)
	if code != 200 || body["status"] != "rejected" || body["reason"] != "insufficient_funds" {
		t.Fatalf("overdraw: %d %v", code, body)
	}
	code, body = httpDo(t, "POST", u+"/v1/transfers/batch", `{"transfers":[{"id":"b-1","from":"acc-1","to":"acc-2","amount":1},{"id":"b-1","from":"acc-1","to":"acc-2","amount":1}]}`)
	if code != 200 || len(body["results"].([]any)) != 2 {
		t.Fatalf("batch: %d %v", code, body)
	}
	for _, q := range []string{"", "?stale=true"} {
		code, body = httpDo(t, "GET", u+"/v1/accounts/acc-1"+q, "")
		if code != 200 || body["balance"] != float64(899) {
			t.Fatalf("read%s: %d %v", q, code, body)
		}
	}
	code, body = httpDo(t, "GET", u+"/v1/status?hash=true", "")
	if code != 200 || body["state"] != "Leader" || len(body["state_hash"].(string)) != 64 {
		t.Fatalf("status: %d %v", code, body)
	}
	code, body = httpDo(t, "GET", u+"/v1/transfers/t-2", "")
	if code != 200 || body["result"].(map[string]any)["reason"] != "insufficient_funds" {
		t.Fatalf("lookup: %d %v", code, body)
	}
	resp, err := http.Get(u + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`paylab_ledger_transfers_total{outcome="committed"} 2`, "paylab_ledger_raft_state 2", "paylab_ledger_http_request_duration_seconds_bucket"} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestHTTPBadInputChangesNothing sends every kind of bad input and checks each gets a 4xx with a JSON reason
// and leaves the state hash exactly as it was.
func TestHTTPBadInputChangesNothing(t *testing.T) {
	c := startCluster(t, ledgertest.Options{Nodes: 1})
	u := c.Leader().URL()
	httpDo(t, "POST", u+"/v1/accounts", `{"id":"a","balance":100}`)
	httpDo(t, "POST", u+"/v1/accounts", `{"id":"b","balance":100}`)
	httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-1","from":"a","to":"b","amount":10}`)
	before, _ := c.Leader().FSM().Summary()

	long := strings.Repeat("x", 65)
	big := `{"id":"t-9","from":"a","to":"b","amount":1,"pad":"` + strings.Repeat("x", ledger.MaxBodyBytes) + `"}`
	var tooMany strings.Builder
	tooMany.WriteString(`{"transfers":[`)
	for i := 0; i <= ledger.MaxBatch; i++ {
		if i > 0 {
			tooMany.WriteString(",")
		}
		fmt.Fprintf(&tooMany, `{"id":"m%d","from":"a","to":"b","amount":1}`, i)
	}
	tooMany.WriteString(`]}`)
	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"malformed JSON", "POST", "/v1/transfers", `{"id":"t-2",`, 400},
		{"unknown field", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":1,"memo":"x"}`, 400},
		{"trailing data", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":1} {}`, 400},
		{"wrong type", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":"1"}`, 400},
		{"zero amount", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":0}`, 400},
		{"negative amount", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":-5}`, 400},
		{"amount over 10^15", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":1000000000000001}`, 400},
		{"id with a space", "POST", "/v1/transfers", `{"id":"t 2","from":"a","to":"b","amount":1}`, 400},
		{"empty id", "POST", "/v1/transfers", `{"id":"","from":"a","to":"b","amount":1}`, 400},
		{"id over 64", "POST", "/v1/transfers", `{"id":"` + long + `","from":"a","to":"b","amount":1}`, 400},
		{"same account", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"a","amount":1}`, 400},
		{"reused id, other body", "POST", "/v1/transfers", `{"id":"t-1","from":"a","to":"b","amount":11}`, 409},
		{"body over 1 MiB", "POST", "/v1/transfers", big, 413},
		{"empty batch", "POST", "/v1/transfers/batch", `{"transfers":[]}`, 400},
		{"batch over 8192", "POST", "/v1/transfers/batch", tooMany.String(), 400},
		{"batch with one bad item", "POST", "/v1/transfers/batch", `{"transfers":[{"id":"ok","from":"a","to":"b","amount":1},{"id":"bad","from":"a","to":"b","amount":0}]}`, 400},
		{"account negative balance", "POST", "/v1/accounts", `{"id":"c","balance":-1}`, 400},
		{"account bad id", "POST", "/v1/accounts", `{"id":"c/d","balance":1}`, 400},
		{"payment key with a space", "POST", "/v1/transfers", `{"id":"t-2","from":"a","to":"b","amount":1,"payment":"p 1"}`, 400},
		{"read balance without read version", "PUT", "/v1/accounts/a/balance", `{"balance":5,"payment":"p1","read_balance":100}`, 400},
		{"read version without read balance", "PUT", "/v1/accounts/a/balance", `{"balance":5,"payment":"p1","read_version":0}`, 400},
		{"existing account", "POST", "/v1/accounts", `{"id":"a","balance":5}`, 409},
		{"read unknown account", "GET", "/v1/accounts/nobody", "", 404},
		{"read bad stale flag", "GET", "/v1/accounts/a?stale=maybe", "", 400},
		{"balance write without balance", "PUT", "/v1/accounts/a/balance", `{"payment":"p"}`, 400},
		{"balance write unknown account", "PUT", "/v1/accounts/zz/balance", `{"balance":5,"payment":"p"}`, 404},
		{"balance write bad payment id", "PUT", "/v1/accounts/a/balance", `{"balance":5,"payment":"p q"}`, 400},
		{"unknown route", "GET", "/v1/nothing", "", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := httpDo(t, tc.method, u+tc.path, tc.body)
			if code != tc.code {
				t.Fatalf("got %d %v, want %d", code, body, tc.code)
			}
			if s, _ := body["error"].(string); s == "" {
				t.Fatalf("no JSON error reason: %v", body)
			}
			after, _ := c.Leader().FSM().Summary()
			if after.Hash != before.Hash {
				t.Fatalf("state changed: %+v → %+v", before, after)
			}
		})
	}
}

func TestHTTPNotLeaderNamesLeader(t *testing.T) {
	c := startCluster(t, ledgertest.Options{})
	// Judged within one term, as in TestFollowerRefusesWritesAndNamesLeader: when an election on a
	// starved machine moves the term during the check, it runs again.
	for attempt := 0; ; attempt++ {
		leader, err := c.WaitLeader(waitCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		term := leader.Status().Term
		// A follower learns who leads from the leader's first append after the election.
		waitFor(t, func() bool {
			for _, n := range c.Live() {
				if n.LeaderID() != leader.ID() && n.Status().Term == term {
					return false
				}
			}
			return true
		})
		var problems []string
		for _, n := range c.Live() {
			if n == leader {
				continue
			}
			code, body := httpDo(t, "POST", n.URL()+"/v1/transfers", `{"id":"t","from":"a","to":"b","amount":1}`)
			if code != 503 || body["error"] != "not_leader" || body["leader"] != leader.ID() {
				problems = append(problems, fmt.Sprintf("follower %s: %d %v", n.ID(), code, body))
			}
		}
		if len(problems) == 0 {
			return
		}
		if allInTerm(c, term) || attempt == 4 {
			t.Fatalf("in term %d (leader %s): %v", term, leader.ID(), problems)
		}
		t.Logf("the term moved during the check (%v); again", problems)
	}
}

// GET /v1/export ends with the trailer, so the checkers' reader accepts the whole stream, and refuses it
// cut at any line boundary before the trailer.
func TestHTTPExportEndsWithATrailerTheReaderChecks(t *testing.T) {
	c := startCluster(t, ledgertest.Options{Nodes: 1})
	u := c.Leader().URL()
	for _, body := range []string{`{"id":"acc-1","balance":1000}`, `{"id":"acc-2","balance":0}`} {
		if code, _ := httpDo(t, "POST", u+"/v1/accounts", body); code != 201 {
			t.Fatalf("create %s: %d", body, code)
		}
	}
	if code, body := httpDo(t, "POST", u+"/v1/transfers", `{"id":"t-1","from":"acc-1","to":"acc-2","amount":100}`); code != 200 {
		t.Fatalf("transfer: %d %v", code, body)
	}
	resp, err := http.Get(u + "/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := assertions.ReadReplica(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("export %q: %v", raw, err)
	}
	if len(rep.Accounts) != 2 || !rep.Transfers["t-1"].Committed() {
		t.Fatalf("exported %+v", rep)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if !bytes.HasPrefix(lines[len(lines)-2], []byte(`{"type":"trailer"`)) {
		t.Fatalf("last line %q, want the trailer", lines[len(lines)-2])
	}
	for n := 1; n < len(lines)-2; n++ {
		if _, err := assertions.ReadReplica(bytes.NewReader(bytes.Join(lines[:n], nil))); !errors.Is(err, assertions.ErrNoTrailer) {
			t.Errorf("export cut after %d lines: %v, want ErrNoTrailer", n, err)
		}
	}
}
