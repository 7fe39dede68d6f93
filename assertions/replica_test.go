package assertions_test

import (
	"errors"
	"strings"
	"testing"

	"paylab/assertions"
)

// export is a replica export as the ledger's GET /v1/export writes it (nodes/ledger/export.go).
const export = `{"type":"header","header":{"node":"ledger:us-east/a","applied_index":42,"state_hash":"abc123"}}
{"type":"account","account":{"id":"acc-0","balance":900,"version":1,"initial":1000}}
{"type":"account","account":{"id":"acc-1","balance":1100,"version":1,"initial":1000}}
{"type":"transfer","transfer":{"id":"t-1","from":"acc-0","to":"acc-1","amount":100,"status":"committed","index":40}}
{"type":"transfer","transfer":{"id":"t-2","from":"acc-0","to":"acc-1","amount":5000,"status":"rejected","reason":"insufficient_funds","index":41}}
{"type":"write","write":{"payment":"p-1","account":"acc-0","old_balance":900,"new_balance":900,"fence":3,"index":42}}
`

func TestReadReplicaParsesAnExport(t *testing.T) {
	r, err := assertions.ReadReplica(strings.NewReader(export))
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
	r, err := assertions.ReadReplica(strings.NewReader(export + again))
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
		{"unknown record", header + `{"type":"trailer"}` + "\n", `unknown record type "trailer"`},
		{"unknown field", header + `{"type":"account","account":{"id":"acc-0","balanse":1}}` + "\n", "line 2"},
		{"bad status", header + `{"type":"transfer","transfer":{"id":"t","status":"pending"}}` + "\n", `status "pending"`},
		{"account twice", header + strings.SplitAfter(export, "\n")[1] + strings.SplitAfter(export, "\n")[1], `account "acc-0" appears twice`},
		{"two headers", header + header, "second or empty header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := assertions.ReadReplica(strings.NewReader(c.text))
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("error %v, want one saying %q", err, c.says)
			}
			if c.name == "export error" && !errors.Is(err, assertions.ErrExportFailed) {
				t.Errorf("%v does not wrap ErrExportFailed", err)
			}
		})
	}
}
