package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/confref"
)

// The configuration reference (docs/configuration.md) and the JSON Schema
// are generated from internal/confref's table. These tests hold the table to
// the parser: the keys of every object, the numeric bounds, the duration
// minimums and the examples.

// blockExample is the whole configuration of a block's example (or of ex
// in its place).
func blockExample(b confref.Block, ex string) string {
	if ex == "" {
		ex = b.Example
	}
	return strings.Replace(b.Wrap, "@", ex, 1)
}

// referenceCorpus is every configuration the key trace reads: the block
// examples, the full example, the deployment's plugin.json, the invalid
// cases (each reaches some objects before its error) and the fuzz corpus.
func referenceCorpus(t *testing.T) []string {
	var docs []string
	for _, b := range confref.Blocks {
		docs = append(docs, blockExample(b, ""))
	}
	for _, f := range []string{"testdata/full.json", "../../envoy/plugin.json"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, string(data))
	}
	for _, c := range invalidCases {
		docs = append(docs, c.in)
	}
	corpus := fuzzCorpus(t)
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		docs = append(docs, corpus[name])
	}
	return docs
}

var (
	indexRe  = regexp.MustCompile(`\[[0-9]+\]`)
	quotedRe = regexp.MustCompile(`\["(?:[^"\\]|\\.)*"\]`)
)

// blockOf returns the table's block whose path pattern matches the parser
// path p ("policies[0].rate_limit.limits[1].tier.limits.gold" matches
// "policies[].rate_limit.limits[].tier.limits.*"), or nil.
func blockOf(p string) *confref.Block {
	p = quotedRe.ReplaceAllString(indexRe.ReplaceAllString(p, "[]"), ".X")
	segs := strings.Split(p, ".")
	for i := range confref.Blocks {
		b := &confref.Blocks[i]
		pat := strings.Split(b.Path, ".")
		if len(pat) != len(segs) {
			continue
		}
		match := true
		for j := range pat {
			if pat[j] != segs[j] && !(pat[j] == "*" && !strings.Contains(segs[j], "[")) {
				match = false
				break
			}
		}
		if match {
			return b
		}
	}
	return nil
}

// TestReferenceKeys: the keys the parser accepts in each object (as its
// unknown-key check is told them) are exactly the keys the reference lists
// for that block, and every block of the reference is read by the parser.
func TestReferenceKeys(t *testing.T) {
	traced := map[string][]string{} // block path -> keys
	var problems []string
	traceAllow = func(path string, keys []string) {
		b := blockOf(path)
		if b == nil {
			problems = append(problems, "the parser reads an object at "+displayPath(path)+" that the reference has no block for")
			return
		}
		ks := slices.Sorted(slices.Values(keys))
		if prev, ok := traced[b.Path]; ok && !slices.Equal(prev, ks) {
			problems = append(problems, "the parser allows different keys at "+b.Path+" in different places")
		}
		traced[b.Path] = ks
	}
	defer func() { traceAllow = nil }()
	for _, doc := range referenceCorpus(t) {
		_, _ = Parse([]byte(doc))
	}
	traceAllow = nil
	for _, p := range problems {
		t.Error(p)
	}
	for _, b := range confref.Blocks {
		got, ok := traced[b.Path]
		if !ok {
			t.Errorf("block %q of the reference is never read by the parser (or no example reaches it)", b.Path)
			continue
		}
		var want []string
		for _, f := range b.Fields {
			want = append(want, f.Key)
		}
		slices.Sort(want)
		for _, k := range got {
			if !slices.Contains(want, k) {
				t.Errorf("%s: the parser accepts %q, the reference does not list it", b.Path, k)
			}
		}
		for _, k := range want {
			if !slices.Contains(got, k) {
				t.Errorf("%s: the reference lists %q, the parser does not accept it", b.Path, k)
			}
		}
	}
	// Objects read without an unknown-key check are maps in the table.
	for _, b := range confref.Blocks {
		for _, f := range b.Fields {
			if f.Kind == confref.StringMap {
				if _, ok := traced[strings.TrimPrefix(b.Path+"."+f.Key, ".")]; ok {
					t.Errorf("%s.%s is a map in the reference but the parser checks its keys", b.Path, f.Key)
				}
			}
		}
	}
}

// TestReferenceExamples: every block's example is a valid configuration.
func TestReferenceExamples(t *testing.T) {
	for _, b := range confref.Blocks {
		if _, err := Parse([]byte(blockExample(b, ""))); err != nil {
			t.Errorf("example of %q: %v", b.Path, err)
		}
		if !json.Valid([]byte(b.Example)) {
			t.Errorf("example of %q is not JSON", b.Path)
		}
	}
}

// withField returns the configuration of block b's example (or probe
// example) with key set to the JSON literal v.
func withField(t *testing.T, b confref.Block, f confref.Field, v string) string {
	t.Helper()
	ex := b.Example
	if f.Probe != "" {
		ex = f.Probe
	}
	dec := json.NewDecoder(strings.NewReader(ex))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: example: %v", b.Path, err)
	}
	m[f.Key] = json.RawMessage(v)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return blockExample(b, string(out))
}

type probe struct {
	value string // JSON literal
	ok    bool
}

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// probes are the values at and beyond the ends of a field's bounds.
func probes(f confref.Field) []probe {
	var ps []probe
	wrap := func(v string) string {
		if f.Kind == confref.StatusList {
			return "[" + v + "]"
		}
		return v
	}
	if r := f.Range; r != nil {
		switch f.Kind {
		case confref.Integer, confref.CountOrDuration, confref.StatusList:
			lo, hi := int64(r.Lo), int64(r.Hi)
			ps = append(ps, probe{wrap(strconv.FormatInt(lo, 10)), true}, probe{wrap(strconv.FormatInt(lo-1, 10)), false},
				probe{wrap(strconv.FormatInt(hi, 10)), true}, probe{wrap(strconv.FormatInt(hi+1, 10)), false})
		case confref.Number:
			const eps = 1e-6
			ps = append(ps, probe{fnum(r.Lo), !r.LoOpen}, probe{fnum(r.Hi), !r.HiOpen})
			if r.LoOpen {
				ps = append(ps, probe{fnum(r.Lo + eps), true})
			} else {
				ps = append(ps, probe{fnum(r.Lo - eps), false})
			}
			if r.HiOpen {
				ps = append(ps, probe{fnum(r.Hi - eps), true})
			} else {
				ps = append(ps, probe{fnum(r.Hi + eps), false})
			}
		}
	}
	if f.Kind == confref.Duration {
		ps = append(ps, probe{`"0s"`, f.ZeroOK}, probe{`"-1s"`, false})
		if f.MinDuration != "" {
			d, _ := time.ParseDuration(f.MinDuration)
			ps = append(ps, probe{strconv.Quote(d.String()), true}, probe{strconv.Quote((d - 1).String()), false})
		}
		if f.MaxDuration != "" {
			d, _ := time.ParseDuration(f.MaxDuration)
			ps = append(ps, probe{strconv.Quote(d.String()), true}, probe{strconv.Quote((d + 1).String()), false})
		}
	}
	return ps
}

// TestReferenceBounds: every numeric bound and duration bound the reference
// (and so the schema) states is the parser's: the value at the bound is
// accepted, the value just beyond is refused with an error about the field.
func TestReferenceBounds(t *testing.T) {
	n := 0
	for _, b := range confref.Blocks {
		for _, f := range b.Fields {
			for _, pr := range probes(f) {
				doc := withField(t, b, f, pr.value)
				_, err := Parse([]byte(doc))
				n++
				switch {
				case pr.ok && err != nil:
					t.Errorf("%s.%s = %s: refused (%v), the reference says it is within bounds\n%s", b.Path, f.Key, pr.value, err, doc)
				case !pr.ok && err == nil:
					t.Errorf("%s.%s = %s: accepted, the reference says it is out of bounds\n%s", b.Path, f.Key, pr.value, doc)
				case !pr.ok:
					var ce *Error
					if !errors.As(err, &ce) || !strings.Contains(ce.Path+ce.Reason, f.Key) {
						t.Errorf("%s.%s = %s: refused for another reason: %v", b.Path, f.Key, pr.value, err)
					}
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d probes", n)
	}
	t.Logf("%d probes", n)
}

// TestReferenceDefaults: every constant default the reference states is
// the value Explain reports for a configuration without the field.
func TestReferenceDefaults(t *testing.T) {
	for _, b := range confref.Blocks {
		for _, f := range b.Fields {
			if f.Default == "" || f.Derived != "" {
				continue
			}
			ex := b.Example
			if f.Probe != "" {
				ex = f.Probe
			}
			dec := json.NewDecoder(strings.NewReader(ex))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			delete(m, f.Key)
			out, _ := json.Marshal(m)
			doc := blockExample(b, string(out))
			c, err := Parse([]byte(doc))
			if err != nil {
				t.Errorf("%s without %s: %v", b.Path, f.Key, err)
				continue
			}
			got, ok := explainedValue(t, c, b.Wrap, f.Key)
			if !ok {
				t.Errorf("%s.%s: Explain does not report it", b.Path, f.Key)
				continue
			}
			if !jsonEqual(got, []byte(f.Default)) {
				t.Errorf("%s.%s: Explain reports %s without it, the reference says the default is %s", b.Path, f.Key, got, f.Default)
			}
		}
	}
}

// explainedValue finds key in Explain's output at the place of "@" in wrap.
func explainedValue(t *testing.T, c *Config, wrap, key string) (json.RawMessage, bool) {
	t.Helper()
	out, err := c.Explain()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	// Walk the wrap document down to "@", following the same keys in v.
	w := strings.Replace(wrap, "@", `"@"`, 1)
	var wv any
	if err := json.Unmarshal([]byte(w), &wv); err != nil {
		t.Fatalf("wrap %s: %v", wrap, err)
	}
	node, ok := follow(wv, v)
	if !ok {
		return nil, false
	}
	m, ok := node.(map[string]any)
	if !ok {
		return nil, false
	}
	val, ok := m[key]
	if !ok {
		return nil, false
	}
	raw, _ := json.Marshal(val)
	return raw, true
}

// follow walks w (a wrap document with "@" in one place) and v together and
// returns v's value at the place of "@".
func follow(w, v any) (any, bool) {
	switch wt := w.(type) {
	case string:
		return v, wt == "@"
	case map[string]any:
		vm, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		for k, wc := range wt {
			if r, ok := follow(wc, vm[k]); ok {
				return r, true
			}
		}
	case []any:
		va, ok := v.([]any)
		if !ok {
			return nil, false
		}
		for i, wc := range wt {
			if i < len(va) {
				if r, ok := follow(wc, va[i]); ok {
					return r, true
				}
			}
		}
	}
	return nil, false
}

// jsonEqual compares two JSON values, durations by their value ("5m" is
// "5m0s").
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	if xs, ok := x.(string); ok {
		if ys, ok := y.(string); ok {
			dx, ex := time.ParseDuration(xs)
			dy, ey := time.ParseDuration(ys)
			if ex == nil && ey == nil {
				return dx == dy
			}
		}
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
