package envoy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root, one level above this module.
const repoRoot = ".."

// readYAMLAsJSON reads a YAML file and converts it to JSON the way Kubernetes
// and Envoy tooling do (sigs.k8s.io/yaml: YAML 1.1 scalars, map keys as
// strings).
func readYAMLAsJSON(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: not valid YAML: %v", path, err)
	}
	return js
}

// readYAMLTree reads a YAML file into generic JSON values (map[string]any,
// []any, float64, string, bool, nil).
func readYAMLTree(t *testing.T, path string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(readYAMLAsJSON(t, path), &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// pluginJSON is envoy/plugin.json, the single source of the plugin
// configuration, as raw bytes.
func pluginJSON(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("plugin.json")
	if err != nil {
		t.Fatalf("read plugin.json: %v", err)
	}
	return data
}

// decodeJSON decodes a JSON document into generic values, failing on
// trailing data.
func decodeJSON(t *testing.T, what string, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: not valid JSON: %v", what, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON document", what)
	}
	return v
}

// jsonDiff lists the paths at which two generic JSON values differ (empty
// when they are semantically equal: key order and number formatting do not
// matter, 100 and 100.0 are equal).
func jsonDiff(path string, a, b any) []string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object vs %T", path, b)}
		}
		keys := map[string]bool{}
		for k := range av {
			keys[k] = true
		}
		for k := range bv {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			x, inA := av[k]
			y, inB := bv[k]
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("%s.%s: missing on the left", path, k))
			case !inB:
				out = append(out, fmt.Sprintf("%s.%s: missing on the right", path, k))
			default:
				out = append(out, jsonDiff(path+"."+k, x, y)...)
			}
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: array vs %T", path, b)}
		}
		if len(av) != len(bv) {
			return []string{fmt.Sprintf("%s: %d elements vs %d", path, len(av), len(bv))}
		}
		var out []string
		for i := range av {
			out = append(out, jsonDiff(fmt.Sprintf("%s[%d]", path, i), av[i], bv[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(a, b) {
			return []string{fmt.Sprintf("%s: %#v vs %#v", path, a, b)}
		}
		return nil
	}
}

// requireSameJSON fails the test with every differing path.
func requireSameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if diff := jsonDiff("$", got, want); len(diff) > 0 {
		t.Errorf("%s differs from envoy/plugin.json at %d path(s):", what, len(diff))
		for _, d := range diff {
			t.Errorf("  %s", d)
		}
	}
}

// inRepo turns a path relative to the repository root into one relative to
// this module's directory.
func inRepo(rel string) string { return filepath.Join(repoRoot, filepath.FromSlash(rel)) }
