package ledger

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestJSONEncodersWriteWhatEncodingJSONWrites(t *testing.T) {
	transfers := []Transfer{
		{ID: "t-1", From: "a", To: "b", Amount: 100},
		{},
		{ID: "x<y>&z", From: "é", To: "\"q\"\\", Amount: -7},
		{ID: "01J9ZQ", From: "acc-1", To: "acc.2_x", Amount: MaxAmount},
		{ID: "01J9ZR", From: "acc-1", To: "acc-2", Amount: 5, Payment: "t-1"},
		{ID: "01J9ZS", From: "acc-1", To: "acc-2", Amount: 5, Payment: "p<&>"},
	}
	for _, tr := range transfers {
		want, _ := json.Marshal(tr)
		if got := AppendTransferJSON(nil, tr); string(got) != string(want) {
			t.Errorf("AppendTransferJSON(%+v) = %s, want %s", tr, got, want)
		}
	}
	results := []TransferResult{
		{ID: "t-1", Status: StatusCommitted, Index: 7},
		{ID: "t-2", Status: StatusRejected, Reason: ReasonInsufficientFunds, Index: 1 << 60, Duplicate: true},
		{ID: "t-3", Status: StatusRejected, Reason: ReasonIDConflict, Conflict: true},
		{},
		{ID: "<", Status: "odd\n"},
	}
	for _, r := range results {
		want, _ := json.Marshal(r)
		if got := AppendTransferResultJSON(nil, r); string(got) != string(want) {
			t.Errorf("AppendTransferResultJSON(%+v) = %s, want %s", r, got, want)
		}
	}
	accounts := []AccountState{{ID: "acc-1", Balance: -3, Version: 9, Initial: 1 << 62}, {}, {ID: "a&b"}}
	for _, a := range accounts {
		want, _ := json.Marshal(a)
		if got := AppendAccountStateJSON(nil, a); string(got) != string(want) {
			t.Errorf("AppendAccountStateJSON(%+v) = %s, want %s", a, got, want)
		}
	}
}

// checkJSONDecodersAgree decodes b with the hand-written decoders and with encoding/json and fails on any
// difference in value or in success. It is run on the unit cases and on every fuzz input.
func checkJSONDecodersAgree(t *testing.T, b []byte) {
	t.Helper()
	if fast, ok := decodeTransferFast(b); ok {
		var slow Transfer
		if err := DecodeStrict(b, &slow); err != nil || slow != fast {
			t.Fatalf("transfer %q: fast path gave %+v, encoding/json %+v, %v", b, fast, slow, err)
		}
		if got, want := AppendTransferJSON(nil, fast), must(json.Marshal(fast)); string(got) != string(want) {
			t.Fatalf("transfer %+v encodes as %s, encoding/json %s", fast, got, want)
		}
	}
	seed := TransferResult{ID: "seed", Status: "seed", Reason: "seed", Index: 99, Duplicate: true}
	fastR, slowR := seed, seed
	errFast, errSlow := DecodeTransferResultJSON(b, &fastR), json.Unmarshal(b, &slowR)
	if (errFast == nil) != (errSlow == nil) || errFast == nil && fastR != slowR {
		t.Fatalf("result %q: fast %+v %v, encoding/json %+v %v", b, fastR, errFast, slowR, errSlow)
	}
	seedA := AccountState{ID: "seed", Balance: 1, Version: 2, Initial: 3}
	fastA, slowA := seedA, seedA
	errFast, errSlow = DecodeAccountStateJSON(b, &fastA), json.Unmarshal(b, &slowA)
	if (errFast == nil) != (errSlow == nil) || errFast == nil && !reflect.DeepEqual(fastA, slowA) {
		t.Fatalf("account %q: fast %+v %v, encoding/json %+v %v", b, fastA, errFast, slowA, errSlow)
	}
}

// checkBatchJSONAgrees does the same for the batch request and answer.
func checkBatchJSONAgrees(t *testing.T, b []byte) {
	t.Helper()
	fast, errFast := DecodeTransfersBatchJSON(b)
	var slow TransfersBatch
	errSlow := DecodeStrict(b, &slow)
	if (errFast == nil) != (errSlow == nil) || errFast == nil && !reflect.DeepEqual(fast, slow) {
		t.Fatalf("batch %q: fast %#v %v, encoding/json %#v %v", b, fast, errFast, slow, errSlow)
	}
	if errFast == nil {
		if got, want := AppendTransfersBatchJSON(nil, fast.Transfers), must(json.Marshal(fast)); string(got) != string(want) {
			t.Fatalf("batch %+v encodes as %s, encoding/json %s", fast, got, want)
		}
	}
	fastR, errFast := DecodeTransfersBatchResponseJSON(b)
	var slowR TransfersBatchResponse
	errSlow = json.Unmarshal(b, &slowR)
	if (errFast == nil) != (errSlow == nil) || errFast == nil && !reflect.DeepEqual(fastR, slowR) {
		t.Fatalf("batch answer %q: fast %#v %v, encoding/json %#v %v", b, fastR, errFast, slowR, errSlow)
	}
	if errFast == nil {
		if got, want := AppendTransfersBatchResponseJSON(nil, fastR.Results), must(json.Marshal(fastR)); string(got) != string(want) {
			t.Fatalf("batch answer %+v encodes as %s, encoding/json %s", fastR, got, want)
		}
	}
}

func TestBatchJSONAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"transfers":[{"id":"t-1","from":"a","to":"b","amount":100},{"id":"t-2","from":"b","to":"a","amount":1}]}`,
		` { "transfers" : [ ] } `, `{"transfers":null}`, `{"transfers":[{}]}`, `{}`,
		`{"transfers":[{"id":"t-1","x":1}]}`, `{"transfers":[{"id":"t-1"}],"transfers":[]}`,
		`{"Transfers":[{"id":"t-1"}]}`, `{"transfers":[{"id":"t-1"},]}`, `{"transfers":[{"id":"t-1"}]} x`,
		`{"transfers":[[]]}`, `{"transfers":{}}`,
		`{"results":[{"id":"t-1","status":"committed","index":3},{"id":"t-2","status":"rejected","reason":"insufficient_funds","index":3,"duplicate":true}]}`,
		`{"results":[]}`, `{"results":null}`, `{"results":[{"id":"t-1","status":"committed","index":3,"extra":[1]}]}`,
		`{"results":[{"id":"t-1","status":"committed","index":3,"extra":1}]}`,
	} {
		checkBatchJSONAgrees(t, []byte(s))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestJSONDecodersAgreeWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		`{"id":"t-1","from":"a","to":"b","amount":100}`,
		`{"id":"t-2","from":"a","to":"b","amount":100,"payment":"t-1"}`,
		`{"payment":"t-1","id":"t-2","from":"a","to":"b","amount":100,"payment":"t-3"}`,
		`{"id":"t-2","from":"a","to":"b","amount":100,"payment":7}`,
		` { "amount" : -0 , "to":"b","from":"a", "id":"t-1" } ` + "\n",
		`{"id":"t-1","id":"t-2","from":"a","to":"b","amount":1}`,
		`{"ID":"t-1","from":"a","to":"b","amount":1}`,
		`{"id":"t\u002d1","from":"a","to":"b","amount":1}`,
		`{"id":"t-1","from":"a","to":"b","amount":1.0}`,
		`{"id":"t-1","from":"a","to":"b","amount":1e2}`,
		`{"id":"t-1","from":"a","to":"b","amount":01}`,
		`{"id":"t-1","from":"a","to":"b","amount":99999999999999999999}`,
		`{"id":null,"from":"a","to":"b","amount":1}`,
		`{"id":"t-1","from":"a","to":"b","amount":"1"}`,
		`{"id":"t-1","from":"a","to":"b","amount":1} x`,
		`{"id":"t-1","from":"a","to":"b","amount":1,}`,
		`{}`, `{`, ``, `[]`, `"x"`,
		`{"id":"t-1","status":"committed","index":12}`,
		`{"id":"t-1","status":"rejected","reason":"insufficient_funds","index":3,"duplicate":true}`,
		`{"id":"t-1","status":"committed","index":-1}`,
		`{"id":"t-1","status":"committed","index":1,"extra":"x"}`,
		`{"duplicate":false}`, `{"duplicate":"true"}`,
		`{"id":"acc-1","balance":-5,"version":3,"initial":10}`,
		`{"id":"acc-1","balance":true}`,
		`{"id":"é","balance":1}`,
	} {
		checkJSONDecodersAgree(t, []byte(s))
	}
}
