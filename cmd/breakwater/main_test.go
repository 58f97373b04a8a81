package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// gate replaces config.NotImplemented for one test, so the expectations do
// not depend on which features have landed.
func gate(t *testing.T, keys ...string) {
	saved := config.NotImplemented
	config.NotImplemented = map[string]bool{}
	for _, k := range keys {
		config.NotImplemented[k] = true
	}
	t.Cleanup(func() { config.NotImplemented = saved })
}

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
	gate(t, "circuit_breaker")
	valid := write(t, `{"policies":[{"name":"p","rate_limit":{"limits":[{"name":"a","requests":10,"per":"1s"}]}}]}`)
	invalid := write(t, `{"policies":[{"name":"p","circuit_breaker":{"failure_rate_threshold":1.5}}]}`)
	gated := write(t, `{"policies":[{"name":"p","circuit_breaker":{}}]}`)
	empty := write(t, ``)
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"valid", []string{"validate", valid}, 0, "ok\n", ""},
		{"invalid", []string{"validate", invalid}, 1, "", "breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5\n"},
		{"gated", []string{"validate", gated}, 1, "", "breakwater: config: policies[0].circuit_breaker: not implemented yet\n"},
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

// The full example of the contract validates once every feature is
// implemented, and until then names the first gated feature.
func TestValidateFullExample(t *testing.T) {
	full := "../../filter/config/testdata/full.json"
	gate(t)
	if code, out, errOut := runCLI("validate", full); code != 0 || out != "ok\n" || errOut != "" {
		t.Fatalf("with nothing gated: %d %q %q", code, out, errOut)
	}
	gate(t, "fault", "rate_limit.tier")
	if code, _, errOut := runCLI("validate", full); code != 1 || errOut != "breakwater: config: policies[0].rate_limit.limits[0].tier: not implemented yet\n" {
		t.Fatalf("gated: %d %q", code, errOut)
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
