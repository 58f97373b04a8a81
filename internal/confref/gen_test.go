package confref

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md and docs/breakwater.schema.json")

// TestGenerated: the committed reference and schema are what the table gives.
func TestGenerated(t *testing.T) {
	schema, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		want []byte
	}{
		{"../../docs/configuration.md", Markdown()},
		{"../../docs/breakwater.schema.json", schema},
	} {
		if *update {
			if err := os.WriteFile(f.path, f.want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s is out of date: run go generate ./internal/confref", f.path)
		}
	}
}

// TestTable: the table is well formed (paths unique, every Ref a block,
// every block but the root referenced, keys unique per block).
func TestTable(t *testing.T) {
	seen := map[string]bool{}
	refd := map[string]bool{"": true}
	for _, b := range Blocks {
		if seen[b.Path] {
			t.Errorf("block %q twice", b.Path)
		}
		seen[b.Path] = true
		keys := map[string]bool{}
		for _, f := range b.Fields {
			if keys[f.Key] {
				t.Errorf("%s: key %q twice", b.Path, f.Key)
			}
			keys[f.Key] = true
			if f.Doc == "" {
				t.Errorf("%s.%s: no Doc", b.Path, f.Key)
			}
			switch f.Kind {
			case Object, ObjectArray, ObjectMap:
				if Lookup(f.Ref) == nil {
					t.Errorf("%s.%s: Ref %q is no block", b.Path, f.Key, f.Ref)
				}
				refd[f.Ref] = true
			}
			if f.Required && (f.Default != "" || f.Derived != "" || f.Absent != "") {
				t.Errorf("%s.%s: required with a default", b.Path, f.Key)
			}
		}
	}
	for _, b := range Blocks {
		if !refd[b.Path] {
			t.Errorf("block %q is referenced by no field", b.Path)
		}
	}
}
