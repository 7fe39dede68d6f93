package ledger

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Hand-written JSON for the types every payment crosses (a transfer, its result, an account), so the hot
// path does not pay for reflection. Each encoder produces exactly the bytes encoding/json would and falls
// back to it for any string that would need escaping; each decoder accepts only a flat object of plain
// values (no escapes, no nulls, each key once, written exactly as the field's tag) and hands anything else
// to encoding/json, so errors and edge cases stay encoding/json's. Tests compare both ways on every input
// the fuzzers find.

// plainJSONString reports whether s can be written between quotes as it is: printable ASCII other than
// the characters encoding/json escapes (", \, <, >, &).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func appendJSONField(dst []byte, comma bool, name string) []byte {
	if comma {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendMarshal appends json.Marshal(v), the fallback of the hand-written encoders.
func appendMarshal(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // not reachable for the plain structs passed here
		panic(fmt.Sprintf("ledger: marshal %T: %v", v, err))
	}
	return append(dst, b...)
}

// AppendTransferJSON appends t as JSON, byte for byte what encoding/json produces.
func AppendTransferJSON(dst []byte, t Transfer) []byte {
	if !plainJSONString(t.ID) || !plainJSONString(t.From) || !plainJSONString(t.To) || !plainJSONString(t.Payment) {
		return appendMarshal(dst, t)
	}
	dst = appendJSONField(append(dst, '{'), false, "id")
	dst = appendJSONString(dst, t.ID)
	dst = appendJSONField(dst, true, "from")
	dst = appendJSONString(dst, t.From)
	dst = appendJSONField(dst, true, "to")
	dst = appendJSONString(dst, t.To)
	dst = appendJSONField(dst, true, "amount")
	dst = strconv.AppendInt(dst, t.Amount, 10)
	if t.Payment != "" {
		dst = appendJSONField(dst, true, "payment")
		dst = appendJSONString(dst, t.Payment)
	}
	return append(dst, '}')
}

// AppendTransferResultJSON appends r as JSON, byte for byte what encoding/json produces.
func AppendTransferResultJSON(dst []byte, r TransferResult) []byte {
	if !plainJSONString(r.ID) || !plainJSONString(string(r.Status)) || !plainJSONString(r.Reason) {
		return appendMarshal(dst, r)
	}
	dst = appendJSONField(append(dst, '{'), false, "id")
	dst = appendJSONString(dst, r.ID)
	dst = appendJSONField(dst, true, "status")
	dst = appendJSONString(dst, string(r.Status))
	if r.Reason != "" {
		dst = appendJSONField(dst, true, "reason")
		dst = appendJSONString(dst, r.Reason)
	}
	dst = appendJSONField(dst, true, "index")
	dst = strconv.AppendUint(dst, r.Index, 10)
	if r.Duplicate {
		dst = appendJSONField(dst, true, "duplicate")
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

// AppendAccountStateJSON appends a as JSON, byte for byte what encoding/json produces.
func AppendAccountStateJSON(dst []byte, a AccountState) []byte {
	if !plainJSONString(a.ID) {
		return appendMarshal(dst, a)
	}
	dst = appendJSONField(append(dst, '{'), false, "id")
	dst = appendJSONString(dst, a.ID)
	dst = appendJSONField(dst, true, "balance")
	dst = strconv.AppendInt(dst, a.Balance, 10)
	dst = appendJSONField(dst, true, "version")
	dst = strconv.AppendUint(dst, a.Version, 10)
	dst = appendJSONField(dst, true, "initial")
	dst = strconv.AppendInt(dst, a.Initial, 10)
	return append(dst, '}')
}

// jsonValue is one value of a flat object: a plain string (its bytes without quotes), a number literal
// or a boolean.
type jsonValue struct {
	raw  []byte
	kind byte // 's' string, 'n' number, 'b' boolean
}

// scanFlatObject walks b as one flat JSON object followed only by whitespace, calling field for each key
// and value. It returns false — and the caller falls back to encoding/json — on anything else: escapes,
// non-ASCII, nested values, null, a malformed number, a key repeated (field decides), trailing data.
func scanFlatObject(b []byte, field func(key []byte, v jsonValue) bool) bool {
	end, ok := scanFlatObjectAt(b, skipJSONSpace(b, 0), field)
	return ok && skipJSONSpace(b, end) == len(b)
}

// scanFlatObjectAt walks the flat object starting at b[i] and returns the index after its closing brace.
func scanFlatObjectAt(b []byte, i int, field func(key []byte, v jsonValue) bool) (int, bool) {
	if i >= len(b) || b[i] != '{' {
		return 0, false
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		key, next, ok := scanPlainString(b, i)
		if !ok {
			return 0, false
		}
		i = skipJSONSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		i = skipJSONSpace(b, i+1)
		if i >= len(b) {
			return 0, false
		}
		var v jsonValue
		switch c := b[i]; {
		case c == '"':
			v.kind = 's'
			v.raw, i, ok = scanPlainString(b, i)
			if !ok {
				return 0, false
			}
		case c == '-' || c >= '0' && c <= '9':
			v.kind = 'n'
			v.raw, i, ok = scanJSONInteger(b, i)
			if !ok {
				return 0, false
			}
		case c == 't' && len(b)-i >= 4 && string(b[i:i+4]) == "true":
			v.kind, v.raw, i = 'b', b[i:i+4], i+4
		case c == 'f' && len(b)-i >= 5 && string(b[i:i+5]) == "false":
			v.kind, v.raw, i = 'b', b[i:i+5], i+5
		default:
			return 0, false
		}
		if !field(key, v) {
			return 0, false
		}
		i = skipJSONSpace(b, i)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// scanPlainString reads a string at b[i] made of printable ASCII without escapes and returns its contents
// and the index after its closing quote.
func scanPlainString(b []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// scanJSONInteger reads an integer literal at b[i] (JSON grammar: -?(0|[1-9][0-9]*), no fraction or
// exponent).
func scanJSONInteger(b []byte, i int) (num []byte, next int, ok bool) {
	j := i
	if b[j] == '-' {
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return nil, 0, false
	}
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == '.' || b[j] == 'e' || b[j] == 'E') {
		return nil, 0, false
	}
	return b[i:j], j, true
}

// jsonInt64 and jsonUint64 parse a number value; false sends the caller to encoding/json.
func jsonInt64(v jsonValue) (int64, bool) {
	if v.kind != 'n' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.raw), 10, 64)
	return n, err == nil
}

func jsonUint64(v jsonValue) (uint64, bool) {
	if v.kind != 'n' || v.raw[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v.raw), 10, 64)
	return n, err == nil
}

// decodeTransferFast decodes the plain form of a transfer body; ok false means "ask encoding/json".
func decodeTransferFast(b []byte) (t Transfer, ok bool) {
	var seen uint8
	ok = scanFlatObject(b, func(key []byte, v jsonValue) bool {
		var bit uint8
		switch string(key) {
		case "id":
			bit = 1
			t.ID = string(v.raw)
		case "from":
			bit = 2
			t.From = string(v.raw)
		case "to":
			bit = 4
			t.To = string(v.raw)
		case "amount":
			bit = 8
			n, isInt := jsonInt64(v)
			if !isInt {
				return false
			}
			t.Amount = n
		case "payment":
			bit = 16
			t.Payment = string(v.raw)
		default:
			return false
		}
		if seen&bit != 0 || (bit != 8 && v.kind != 's') {
			return false
		}
		seen |= bit
		return true
	})
	return t, ok
}

// DecodeTransferResultJSON parses a transfer result as json.Unmarshal would into r (unknown fields are
// ignored), without reflection for the form AppendTransferResultJSON writes.
func DecodeTransferResultJSON(b []byte, r *TransferResult) error {
	var out TransferResult
	var seen uint8
	ok := scanFlatObject(b, func(key []byte, v jsonValue) bool {
		var bit uint8
		switch string(key) {
		case "id":
			bit = 1
			out.ID = string(v.raw)
		case "status":
			bit = 2
			switch string(v.raw) {
			case string(StatusCommitted):
				out.Status = StatusCommitted
			case string(StatusRejected):
				out.Status = StatusRejected
			default:
				out.Status = Status(v.raw)
			}
		case "reason":
			bit = 4
			out.Reason = reasonFromBytes(v.raw)
		case "index":
			bit = 8
			n, isUint := jsonUint64(v)
			if !isUint {
				return false
			}
			out.Index = n
		case "duplicate":
			bit = 16
			if v.kind != 'b' {
				return false
			}
			out.Duplicate = string(v.raw) == "true"
		default:
			return false
		}
		if seen&bit != 0 || (bit <= 4 && v.kind != 's') {
			return false
		}
		seen |= bit
		return true
	})
	if !ok {
		return json.Unmarshal(b, r)
	}
	// json.Unmarshal leaves fields absent from the input as they were.
	if seen&1 != 0 {
		r.ID = out.ID
	}
	if seen&2 != 0 {
		r.Status = out.Status
	}
	if seen&4 != 0 {
		r.Reason = out.Reason
	}
	if seen&8 != 0 {
		r.Index = out.Index
	}
	if seen&16 != 0 {
		r.Duplicate = out.Duplicate
	}
	return nil
}

// reasonFromBytes returns the reason text, sharing the constant's string when it is a known reason.
func reasonFromBytes(b []byte) string {
	for _, s := range reasonCodes {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// DecodeAccountStateJSON parses an account as json.Unmarshal would into a (unknown fields are ignored),
// without reflection for the form AppendAccountStateJSON writes.
func DecodeAccountStateJSON(b []byte, a *AccountState) error {
	var out AccountState
	var seen uint8
	ok := scanFlatObject(b, func(key []byte, v jsonValue) bool {
		var bit uint8
		var isNum bool
		switch string(key) {
		case "id":
			bit = 1
			out.ID = string(v.raw)
			isNum = v.kind == 's'
		case "balance":
			bit = 2
			out.Balance, isNum = jsonInt64(v)
		case "version":
			bit = 4
			out.Version, isNum = jsonUint64(v)
		case "initial":
			bit = 8
			out.Initial, isNum = jsonInt64(v)
		default:
			return false
		}
		if seen&bit != 0 || !isNum {
			return false
		}
		seen |= bit
		return true
	})
	if !ok {
		return json.Unmarshal(b, a)
	}
	if seen&1 != 0 {
		a.ID = out.ID
	}
	if seen&2 != 0 {
		a.Balance = out.Balance
	}
	if seen&4 != 0 {
		a.Version = out.Version
	}
	if seen&8 != 0 {
		a.Initial = out.Initial
	}
	return nil
}

// scanFlatArray walks a field's value that must be an array of flat objects ([] or null → none), calling
// each for every object, and returns the index after it.
func scanFlatArray(b []byte, i int, each func(obj []byte) bool) (int, bool) {
	if len(b)-i >= 4 && string(b[i:i+4]) == "null" {
		return i + 4, true
	}
	if i >= len(b) || b[i] != '[' {
		return 0, false
	}
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		start := i
		end, ok := scanFlatObjectAt(b, i, func([]byte, jsonValue) bool { return true })
		if !ok || !each(b[start:end]) {
			return 0, false
		}
		i = skipJSONSpace(b, end)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = skipJSONSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// scanListObject walks {"<name>": [flat objects]} followed only by whitespace, calling each for every
// object; false sends the caller to encoding/json.
func scanListObject(b []byte, name string, each func(obj []byte) bool) bool {
	i := skipJSONSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	key, next, ok := scanPlainString(b, skipJSONSpace(b, i+1))
	if !ok || string(key) != name {
		return false
	}
	i = skipJSONSpace(b, next)
	if i >= len(b) || b[i] != ':' {
		return false
	}
	i, ok = scanFlatArray(b, skipJSONSpace(b, i+1), each)
	if !ok {
		return false
	}
	i = skipJSONSpace(b, i)
	if i >= len(b) || b[i] != '}' {
		return false
	}
	return skipJSONSpace(b, i+1) == len(b)
}

// AppendTransfersBatchJSON appends the body of POST /v1/transfers/batch, byte for byte what encoding/json
// produces for TransfersBatch{Transfers: ts}.
func AppendTransfersBatchJSON(dst []byte, ts []Transfer) []byte {
	if ts == nil {
		return append(dst, `{"transfers":null}`...)
	}
	dst = append(dst, `{"transfers":[`...)
	for i, t := range ts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendTransferJSON(dst, t)
	}
	return append(dst, "]}"...)
}

// DecodeTransfersBatchJSON parses the body of POST /v1/transfers/batch strictly, as DecodeStrict does
// (unknown fields and trailing data are errors wrapping ErrInvalid). The transfers are not validated.
func DecodeTransfersBatchJSON(body []byte) (TransfersBatch, error) {
	var tb TransfersBatch
	ok := scanListObject(body, "transfers", func(obj []byte) bool {
		t, ok := decodeTransferFast(obj)
		if ok {
			tb.Transfers = append(tb.Transfers, t)
		}
		return ok
	})
	if !ok {
		tb = TransfersBatch{}
		if err := DecodeStrict(body, &tb); err != nil {
			return TransfersBatch{}, err
		}
		return tb, nil
	}
	if tb.Transfers == nil && !isNullList(body) {
		tb.Transfers = []Transfer{}
	}
	return tb, nil
}

// isNullList reports whether a list object's array was written as null (encoding/json then leaves the
// slice nil; an empty array gives an empty, non-nil slice).
func isNullList(b []byte) bool {
	i := len(b) - 1
	for i >= 0 && b[i] != '}' {
		i--
	}
	i--
	for i >= 0 && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i--
	}
	return i >= 3 && string(b[i-3:i+1]) == "null"
}

// AppendTransfersBatchResponseJSON appends a batch answer, byte for byte what encoding/json produces for
// TransfersBatchResponse{Results: rs}.
func AppendTransfersBatchResponseJSON(dst []byte, rs []TransferResult) []byte {
	if rs == nil {
		return append(dst, `{"results":null}`...)
	}
	dst = append(dst, `{"results":[`...)
	for i, r := range rs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendTransferResultJSON(dst, r)
	}
	return append(dst, "]}"...)
}

// DecodeTransfersBatchResponseJSON parses a batch answer as json.Unmarshal would into a fresh value.
func DecodeTransfersBatchResponseJSON(b []byte) (TransfersBatchResponse, error) {
	var out TransfersBatchResponse
	ok := scanListObject(b, "results", func(obj []byte) bool {
		var r TransferResult
		if DecodeTransferResultJSON(obj, &r) != nil {
			return false
		}
		out.Results = append(out.Results, r)
		return true
	})
	if !ok {
		out = TransfersBatchResponse{}
		err := json.Unmarshal(b, &out)
		return out, err
	}
	if out.Results == nil && !isNullList(b) {
		out.Results = []TransferResult{}
	}
	return out, nil
}
