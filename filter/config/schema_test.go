package config

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/breakwater/breakwater/internal/confref"
)

// compileSchema compiles the committed docs/breakwater.schema.json with a
// real JSON Schema (draft 2020-12) implementation.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile("../../docs/breakwater.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(confref.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(confref.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func schemaValidate(s *jsonschema.Schema, doc string) error {
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// TestSchemaValid: envoy/plugin.json, the full example and every block's
// example are valid against the schema (and for the parser).
func TestSchemaValid(t *testing.T) {
	s := compileSchema(t)
	docs := map[string]string{}
	for _, f := range []string{"../../envoy/plugin.json", "testdata/full.json"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[f] = string(data)
	}
	for _, b := range confref.Blocks {
		docs["example of "+b.Path] = blockExample(b, "")
	}
	for name, doc := range fuzzCorpus(t) {
		if _, err := Parse([]byte(doc)); err == nil {
			docs[name] = doc
		}
	}
	for name, doc := range docs {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: Parse: %v", name, err)
		}
		if err := schemaValidate(s, doc); err != nil {
			t.Errorf("%s: schema: %v", name, err)
		}
	}
}

// fuzzCorpus reads the configurations of the fuzz corpus
// (testdata/fuzz/FuzzParseConfig, Go's corpus file format), by file name.
func fuzzCorpus(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob("testdata/fuzz/FuzzParseConfig/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a one-value corpus file", f)
		}
		v := lines[1]
		for _, pre := range []string{"[]byte(", "string("} {
			if strings.HasPrefix(v, pre) && strings.HasSuffix(v, ")") {
				v = strings.TrimSuffix(strings.TrimPrefix(v, pre), ")")
				break
			}
		}
		doc, err := strconv.Unquote(v)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[f] = doc
	}
	return out
}

// beyondSchema are the rules of the parser a JSON Schema cannot state (or
// that this one does not): an invalid case whose error matches one of them
// may pass the schema. Every other invalid case must fail it. Each is matched
// against "case name: error".
var beyondSchema = []struct {
	reason string
	re     *regexp.Regexp
}{
	{"not a JSON document a validator reads (syntax, encoding, size, duplicate keys)",
		regexp.MustCompile(`invalid JSON|not valid UTF-8|empty document|unexpected data after|duplicate key$|document too large|more than \d+ JSON values|nested deeper`)},
	{"uniqueness across entries or case-insensitive", regexp.MustCompile(`duplicate (policy name|limit name|method|header|key part|reason|status|")`)},
	{"a policy made unreachable by an earlier one", regexp.MustCompile(`unreachable:`)},
	{"integers written with a fraction or an exponent (JSON Schema's integer is a value, not a spelling)", regexp.MustCompile(`must be an integer, got [0-9.eE+-]+$`)},
	{"RE2 syntax", regexp.MustCompile(`invalid regular expression`)},
	{"Go duration range and minimums", regexp.MustCompile(`must be a duration like .*[0-9]{10}h"$|must be at most 87600h0m0s|must be at least 1ms|must be at least 1s|must leave buckets of at least 1ms|must be in \[[0-9.]+(ns|µs|ms|s|m|h)[0-9a-zµ.]*,[0-9.]+(ns|µs|ms|s|m|h)[0-9a-zµ.]*\]`)},
	{"numeric comparisons between fields", regexp.MustCompile(`must be at most policies\[\d+\]\.(circuit_breaker\.window\.size|timeout\.request)|must be at least policies\[\d+\]\.[a-z_.]+\.(open_duration|min) \(|to refill \(burst × per / requests\)|bytes of shared state`)},
	{"rules across blocks (global limits and the service's failure_mode, fallback reasons)", regexp.MustCompile(`only allowed under rate_limit\.service\.failure_mode|never happens: the policy has no|requires rate_limit\.service|^rl global local no rate:`)},
	{"algorithm rules inside tiers (the algorithm is the limit's)", regexp.MustCompile(`tier\.limits\.[a-z]+\.(burst|max_delay):`)},
	{"a failure_on that counts nothing", regexp.MustCompile(`counts no outcome as a failure`)},
	{"the default tier listed in tier.limits", regexp.MustCompile(`is the default tier`)},
}

// TestSchemaInvalid: every invalid case (of the invalid-case table and of
// the fuzz corpus) the schema can express fails it.
func TestSchemaInvalid(t *testing.T) {
	s := compileSchema(t)
	used := make([]int, len(beyondSchema))
	failed := 0
	cases := slices.Clone(invalidCases)
	for name, doc := range fuzzCorpus(t) {
		if _, err := Parse([]byte(doc)); err != nil {
			cases = append(cases, invalidCase{name, doc, strings.TrimPrefix(err.Error(), "breakwater: config: ")})
		}
	}
	for _, c := range cases {
		err := schemaValidate(s, c.in)
		if err != nil {
			failed++
			continue
		}
		explained := false
		for i, b := range beyondSchema {
			if b.re.MatchString(c.name + ": " + c.want) {
				used[i]++
				explained = true
				break
			}
		}
		if !explained {
			t.Errorf("%s: the schema accepts %s, which the parser refuses (%s)", c.name, clip(c.in), c.want)
		}
	}
	for i, b := range beyondSchema {
		t.Logf("passes the schema, refused by the parser only (%s): %d", b.reason, used[i])
	}
	t.Logf("%d of %d invalid cases fail the schema", failed, len(cases))
	if failed < len(cases)*2/3 {
		t.Errorf("only %d of %d invalid cases fail the schema", failed, len(cases))
	}
}
