package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestValidate(t *testing.T) {
	valid := write(t, `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":10,"per":"1s"}]}}]}`)
	invalid := write(t, `{"policies":[{"name":"p","circuit_breaker":{"failure_rate_threshold":1.5}}]}`)
	empty := write(t, ``)
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"valid", []string{"validate", valid}, 0, "ok\n", ""},
		{"invalid", []string{"validate", invalid}, 1, "", "breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5\n"},
		{"empty file", []string{"validate", empty}, 1, "", "breakwater: config: $: empty document, want a JSON object\n"},
		{"no file", []string{"validate"}, 2, "", "usage: breakwater validate [--explain|-v] FILE|-\n"},
		{"two files", []string{"validate", valid, valid}, 2, "", "usage: breakwater validate [--explain|-v] FILE|-\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(tc.args...)
			if code != tc.code || out != tc.stdout || errOut != tc.stderr {
				t.Fatalf("run(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errOut, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestValidateMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.json")
	code, out, errOut := runCLI("validate", missing)
	if code != 1 || out != "" || errOut != "breakwater: validate: open "+missing+": no such file or directory\n" {
		t.Fatalf("got %d %q %q", code, out, errOut)
	}
}

// The full example of every block validates.
func TestValidateFullExample(t *testing.T) {
	full := "../../filter/config/testdata/full.json"
	if code, out, errOut := runCLI("validate", full); code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("full example: %d %q %q", code, out, errOut)
	}
}

func TestDispatch(t *testing.T) {
	code, out, errOut := runCLI()
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "usage: breakwater COMMAND") || !strings.Contains(errOut, "validate [--explain|-v] FILE") {
		t.Fatalf("no args: %d %q %q", code, out, errOut)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		code, out, errOut = runCLI(h)
		if code != 0 || errOut != "" || !strings.Contains(out, "validate [--explain|-v] FILE") {
			t.Fatalf("%s: %d %q %q", h, code, out, errOut)
		}
	}
	code, out, errOut = runCLI("serve-me")
	if code != 2 || out != "" || !strings.HasPrefix(errOut, "breakwater: unknown command \"serve-me\"\nusage:") {
		t.Fatalf("unknown: %d %q %q", code, out, errOut)
	}
}
