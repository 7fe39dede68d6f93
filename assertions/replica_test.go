package assertions_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"paylab/assertions"
)

// export is a replica export as the ledger's GET /v1/export writes it (nodes/ledger/export.go),
// without its trailer: seal adds it.
const export = `{"type":"header","header":{"node":"ledger:us-east/a","applied_index":42,"state_hash":"abc123"}}
{"type":"account","account":{"id":"acc-0","balance":900,"version":1,"initial":1000}}
{"type":"account","account":{"id":"acc-1","balance":1100,"version":1,"initial":1000}}
{"type":"transfer","transfer":{"id":"t-1","from":"acc-0","to":"acc-1","amount":100,"status":"committed","index":40}}
{"type":"transfer","transfer":{"id":"t-2","from":"acc-0","to":"acc-1","amount":5000,"status":"rejected","reason":"insufficient_funds","index":41}}
{"type":"write","write":{"payment":"p-1","account":"acc-0","old_balance":900,"new_balance":900,"fence":3,"index":42}}
`

// seal appends the trailer the ledger writes after the lines: their counts and SHA-256.
func seal(lines string) string {
	count := func(typ string) int { return strings.Count(lines, `{"type":"`+typ+`"`) }
	sum := sha256.Sum256([]byte(lines))
	return lines + fmt.Sprintf(`{"type":"trailer","trailer":{"accounts":%d,"transfers":%d,"writes":%d,"lines_sha256":"%s"}}`+"\n",
		count("account"), count("transfer"), count("write"), hex.EncodeToString(sum[:]))
}

func TestReadReplicaParsesAnExport(t *testing.T) {
	r, err := assertions.ReadReplica(strings.NewReader(seal(export)))
	if err != nil {
		t.Fatal(err)
	}
	if r.Node != "ledger:us-east/a" || r.AppliedIndex != 42 || r.StateHash != "abc123" {
		t.Errorf("header: %+v", r)
	}
	if len(r.Accounts) != 2 || r.Accounts["acc-1"].Balance != 1100 || r.Accounts["acc-0"].Initial != 1000 {
		t.Errorf("accounts: %+v", r.Accounts)
	}
	if t1 := r.Transfers["t-1"]; !t1.Committed() || t1.Amount != 100 || t1.Index != 40 {
		t.Errorf("t-1: %+v", t1)
	}
	if t2 := r.Transfers["t-2"]; t2.Committed() || t2.Reason != "insufficient_funds" {
		t.Errorf("t-2: %+v", t2)
	}
	if len(r.Writes) != 1 || r.Writes[0] != (assertions.Write{Payment: "p-1", Account: "acc-0", Old: 900, New: 900, Fence: 3, Index: 42}) {
		t.Errorf("writes: %+v", r.Writes)
	}
	if r.Live || r.Err != nil || !r.Readable() {
		t.Errorf("Live and Err are the caller's; got %v %v", r.Live, r.Err)
	}
}

func TestReadReplicaKeepsASecondEntryForOneKey(t *testing.T) {
	again := `{"type":"transfer","transfer":{"id":"t-1","from":"acc-0","to":"acc-1","amount":100,"status":"committed","index":43}}` + "\n"
	r, err := assertions.ReadReplica(strings.NewReader(seal(export + again)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Repeated) != 1 || r.Repeated[0].Index != 43 || r.Transfers["t-1"].Index != 40 {
		t.Errorf("repeated %+v, kept %+v", r.Repeated, r.Transfers["t-1"])
	}
}

func TestReadReplicaRefusesBrokenExports(t *testing.T) {
	header := strings.SplitAfter(export, "\n")[0]
	cases := []struct {
		name, text, says string
	}{
		{"empty", "", "no header"},
		{"no header", strings.SplitN(export, "\n", 2)[1], `"account" record before the header`},
		{"export error", header + `{"type":"error","error":"export state of /x: disk I/O"}` + "\n", "disk I/O"},
		{"truncated line", header + `{"type":"account","account":{"id":"acc-0","bal`, "line 2"},
		{"unknown record", header + `{"type":"footer"}` + "\n", `unknown record type "footer"`},
		{"unknown field", header + `{"type":"account","account":{"id":"acc-0","balanse":1}}` + "\n", "line 2"},
		{"bad status", header + `{"type":"transfer","transfer":{"id":"t","status":"pending"}}` + "\n", `status "pending"`},
		{"account twice", header + strings.SplitAfter(export, "\n")[1] + strings.SplitAfter(export, "\n")[1], `account "acc-0" appears twice`},
		{"two headers", header + header, "second or empty header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := c.text
			if text != "" {
				text = seal(text) // so each is refused for its own fault, not for a missing trailer
			}
			_, err := assertions.ReadReplica(strings.NewReader(text))
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want one saying %q", err, c.says)
			}
			if c.name == "export error" && !errors.Is(err, assertions.ErrExportFailed) {
				t.Errorf("%v does not wrap ErrExportFailed", err)
			}
		})
	}
}

// Issue 10, behaviour 8: an export cut at a line boundary parsed as a valid replica. Every cut of
// a whole export — at each line boundary, and in the middle of the trailer — is refused now, and
// so is an export whose trailer does not match it and one in the old format (no trailer).
func TestReadReplicaRefusesAnExportWithoutItsTrailer(t *testing.T) {
	whole := seal(export)
	if _, err := assertions.ReadReplica(strings.NewReader(whole)); err != nil {
		t.Fatalf("the whole export: %v", err)
	}
	lines := strings.SplitAfter(whole, "\n")
	for n := 1; n < len(lines)-1; n++ {
		cut := strings.Join(lines[:n], "")
		_, err := assertions.ReadReplica(strings.NewReader(cut))
		if !errors.Is(err, assertions.ErrNoTrailer) {
			t.Errorf("cut after %d lines: error %v, want ErrNoTrailer", n, err)
		}
	}
	if _, err := assertions.ReadReplica(strings.NewReader(export)); !errors.Is(err, assertions.ErrNoTrailer) ||
		!strings.Contains(err.Error(), "older than the trailer format") {
		t.Errorf("old-format export: %v, want ErrNoTrailer saying why", err)
	}
	if _, err := assertions.ReadReplica(strings.NewReader(whole[:len(whole)-20])); err == nil {
		t.Error("an export cut inside its trailer was accepted")
	}
	body := strings.Join(lines[:len(lines)-2], "")
	trailer := lines[len(lines)-2]
	cases := []struct{ name, text, says string }{
		{"a transfer dropped, trailer kept", strings.Replace(body, lines[3], "", 1) + trailer, "it says 2 accounts, 2 transfers"},
		{"a balance changed, trailer kept", strings.Replace(body, `"balance":900`, `"balance":901`, 1) + trailer, "lines"},
		{"a record after the trailer", body + trailer + lines[1], "after the trailer"},
		{"a trailer first", trailer + body, "before the header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := assertions.ReadReplica(strings.NewReader(c.text))
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want one saying %q", err, c.says)
			}
			if c.name[0] == 'a' && strings.HasSuffix(c.name, "kept") && !errors.Is(err, assertions.ErrTrailerMismatch) {
				t.Errorf("%v does not wrap ErrTrailerMismatch", err)
			}
		})
	}
}
