package rls

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestEncodeRequestAsMarshal: EncodeRequest writes exactly what
// encoding/json.Marshal writes for request, on random requests (escapes,
// invalid UTF-8, nil and empty descriptors, hits 0 and not).
func TestEncodeRequestAsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []byte("aZ09-_/ .\"\\<>&\n\x00\x7f\xc3\xa9\xe2\x80\xa9\xff")
	str := func() string {
		b := make([]byte, rng.IntN(10))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for n := 0; n < 3000; n++ {
		var ds [][]Entry
		if k := rng.IntN(5); k > 0 {
			ds = make([][]Entry, k-1)
			for i := range ds {
				if m := rng.IntN(4); m > 0 {
					ds[i] = make([]Entry, m-1)
					for j := range ds[i] {
						ds[i][j] = Entry{str(), str()}
					}
				}
			}
		}
		domain, hits := str(), uint32(0)
		if rng.IntN(2) == 0 {
			hits = rng.Uint32()
		}
		r := request{Domain: domain, HitsAddend: hits, Descriptors: make([]descriptor, len(ds))}
		for i, d := range ds {
			r.Descriptors[i].Entries = d
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := EncodeRequest(domain, ds, hits); string(got) != string(want) {
			t.Fatalf("EncodeRequest(%q, %q, %d)\n got %s\nwant %s", domain, ds, hits, got, want)
		}
	}
}

// TestUnmarshalAsJSON: unmarshal decodes exactly what encoding/json.Unmarshal
// decodes into wireResponse, and fails where it fails (syntax errors with
// the same message), on random bodies: keys in other cases, unknown keys,
// nulls, duplicate keys, values of the wrong type, integers out of range.
func TestUnmarshalAsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	keys := []string{"overallCode", "OVERALLCODE", "statuses", "Statuses", "code", "currentLimit", "currentlimit",
		"requestsPerUnit", "unit", "limitRemaining", "durationUntilReset", "other", "ſtatuses"}
	var value func(depth int) string
	value = func(depth int) string {
		switch rng.IntN(12) {
		case 0:
			return "null"
		case 1:
			return `"OK"`
		case 2:
			return `"OVER_LIMIT"`
		case 3:
			return []string{"12", "-3", "1.5", "1e2", "9223372036854775808", "-0"}[rng.IntN(6)]
		case 4:
			return []string{"true", "false", `"1s"`, `"x\u00e9"`}[rng.IntN(4)]
		case 5, 6, 7:
			if depth > 3 {
				return "0"
			}
			var sb strings.Builder
			sb.WriteByte('{')
			for k := rng.IntN(4); k > 0; k-- {
				fmt.Fprintf(&sb, "%q:%s", keys[rng.IntN(len(keys))], value(depth+1))
				if k > 1 {
					sb.WriteByte(',')
				}
			}
			sb.WriteByte('}')
			return sb.String()
		default:
			if depth > 3 {
				return "1"
			}
			var sb strings.Builder
			sb.WriteByte('[')
			for k := rng.IntN(4); k > 0; k-- {
				sb.WriteString(value(depth + 1))
				if k > 1 {
					sb.WriteByte(',')
				}
			}
			sb.WriteByte(']')
			return sb.String()
		}
	}
	bodies := []string{``, `{`, `{"overallCode":"OK"} x`, `[]`, `null`, `"s"`, `{"statuses":[{"code":"OK","limitRemaining":"3"}]}`}
	for n := 0; n < 30000; n++ {
		b := value(0)
		if rng.IntN(10) == 0 && len(b) > 0 {
			b = b[:rng.IntN(len(b))]
		}
		bodies = append(bodies, b)
	}
	for _, b := range bodies {
		var want, got wireResponse
		werr := json.Unmarshal([]byte(b), &want)
		gerr := unmarshal([]byte(b), &got)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%s: unmarshal error %v, encoding/json %v", b, gerr, werr)
		}
		if se, ok := werr.(*json.SyntaxError); ok && gerr.Error() != se.Error() {
			t.Fatalf("%s: unmarshal error %v, encoding/json %v", b, gerr, werr)
		}
		if werr == nil {
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) {
				t.Fatalf("%s:\n got %s\nwant %s", b, gj, wj)
			}
		}
	}
}
