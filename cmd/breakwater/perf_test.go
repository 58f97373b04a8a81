package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tetratelabs/wabin/binary"
	"github.com/tetratelabs/wabin/wasm"

	"github.com/breakwater/breakwater/internal/testsvc"
)

// perfFields are the fields every `breakwater perf --json` object carries.
var perfFields = []string{"name", "workers", "instructions_per_request", "host_calls_per_request",
	"shared_data_ops_per_request", "reentrant_allocs_per_request", "heap_objects_per_request",
	"heap_bytes_per_request", "instructions_per_request_by_callback", "host_calls_per_request_by_function",
	"memory_grows_per_request"}

func perfJSON(t *testing.T, args ...string) map[string]any {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"perf", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("perf %v: exit %d: %s", args, code, errOut)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("perf %v: not one JSON object: %v: %q", args, err, out)
	}
	for _, f := range perfFields {
		if _, ok := m[f]; !ok {
			t.Errorf("perf %v: no field %q in %s", args, f, out)
		}
	}
	return m
}

func repoFile(parts ...string) string {
	return filepath.Join(append([]string{testsvc.RepoRoot()}, parts...)...)
}

// TestPerfDeterministic runs the instrument twice on the full benchmark
// policy with 2 workers: every figure is the same, every field is there,
// and the figures are the plugin's (it does work, calls the host, and
// exports its heap statistics).
func TestPerfDeterministic(t *testing.T) {
	args := []string{"--wasm", repoFile("dist", "breakwater.wasm"), "--config", repoFile("bench", "full.json"),
		"--workers", "2", "--requests", "25", "--warmup", "25"}
	a, b := perfJSON(t, args...), perfJSON(t, args...)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two identical runs differ:\n%v\n%v", a, b)
	}
	if a["name"] != "breakwater" || a["workers"] != 2.0 {
		t.Errorf("name, workers = %v, %v", a["name"], a["workers"])
	}
	if v, _ := a["instructions_per_request"].(float64); v <= 0 {
		t.Errorf("instructions_per_request = %v", a["instructions_per_request"])
	}
	by, _ := a["instructions_per_request_by_callback"].(map[string]any)
	for _, k := range []string{"request_headers", "response_headers", "stream_end", "tick"} {
		if v, _ := by[k].(float64); v <= 0 {
			t.Errorf("instructions_per_request_by_callback[%s] = %v", k, by[k])
		}
	}
	if v, _ := a["host_calls_per_request"].(float64); v <= 0 {
		t.Errorf("host_calls_per_request = %v", a["host_calls_per_request"])
	}
	if v, _ := a["shared_data_ops_per_request"].(float64); v <= 0 {
		t.Errorf("shared_data_ops_per_request = %v", a["shared_data_ops_per_request"])
	}
	if _, ok := a["heap_objects_per_request"].(float64); !ok {
		t.Errorf("heap_objects_per_request = %v, want a number (the plugin exports go_heap_allocs)", a["heap_objects_per_request"])
	}
}

// TestPerfWithoutHeapExport: a plugin that does not export go_heap_allocs
// (noop.wasm with the export removed) is measured, its heap fields null;
// no configuration file is needed.
func TestPerfWithoutHeapExport(t *testing.T) {
	b, err := os.ReadFile(repoFile("dist", "noop.wasm"))
	if err != nil {
		t.Fatalf("%v: run make build", err)
	}
	m, err := binary.DecodeModule(b, wasm.CoreFeaturesV2)
	if err != nil {
		t.Fatal(err)
	}
	kept := m.ExportSection[:0]
	for _, e := range m.ExportSection {
		if e.Name != heapExport {
			kept = append(kept, e)
		}
	}
	if len(kept) == len(m.ExportSection) {
		t.Fatalf("noop.wasm does not export %s", heapExport)
	}
	m.ExportSection = kept
	p := filepath.Join(t.TempDir(), "bare.wasm")
	if err := os.WriteFile(p, binary.EncodeModule(m), 0o644); err != nil {
		t.Fatal(err)
	}
	r := perfJSON(t, "--wasm", p, "--requests", "10", "--warmup", "10")
	if r["heap_objects_per_request"] != nil || r["heap_bytes_per_request"] != nil {
		t.Errorf("heap fields = %v, %v, want null", r["heap_objects_per_request"], r["heap_bytes_per_request"])
	}
	if r["name"] != "bare" {
		t.Errorf("name = %v", r["name"])
	}
}

// TestPerfSuite runs the make perf suite with a tiny N in a copy of the
// repository layout: dist/perf.json lists every run, names as documented.
func TestPerfSuite(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "dist"), 0o755)
	for _, f := range []string{"noop.wasm", "floor.wasm", "breakwater.wasm"} {
		if err := os.Symlink(repoFile("dist", f), filepath.Join(dir, "dist", f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(repoFile("bench"), filepath.Join(dir, "bench")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("perf", "--suite", dir, "--requests", "4", "--warmup", "4")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "full") || !strings.Contains(out, "insns/req") {
		t.Errorf("no table: %s", out)
	}
	data, err := os.ReadFile(filepath.Join(dir, "dist", "perf.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	pats, _ := filepath.Glob(repoFile("bench", "perf", "*.json"))
	want := map[string]bool{"noop": true, "floor": true, "full": true}
	for _, p := range pats {
		want[strings.TrimSuffix(filepath.Base(p), ".json")] = true
	}
	seen := map[string]int{}
	for _, r := range doc.Runs {
		name, _ := r["name"].(string)
		if !want[name] {
			t.Errorf("unexpected run name %q", name)
		}
		seen[name]++
		for _, f := range perfFields {
			if _, ok := r[f]; !ok {
				t.Errorf("run %s: no field %q", name, f)
			}
		}
	}
	for name := range want {
		if seen[name] != 2 {
			t.Errorf("run %s: %d times, want 2 (1 and 4 workers)", name, seen[name])
		}
	}
}

// TestNoMemoryGrowAfterWarmup: the built plugin starts with a pre-grown
// memory (scripts/build-wasm.sh sets its minimum pages), so under the full
// benchmark policy with 4 workers no VM runs memory.grow after the warm-up,
// neither in a request nor in a tick: every VM still has its initial size.
func TestNoMemoryGrowAfterWarmup(t *testing.T) {
	b, err := os.ReadFile(repoFile("dist", "breakwater.wasm"))
	if err != nil {
		t.Fatalf("%v: run make build", err)
	}
	m, err := binary.DecodeModule(b, wasm.CoreFeaturesV2)
	if err != nil {
		t.Fatal(err)
	}
	r := perfJSON(t, "--wasm", repoFile("dist", "breakwater.wasm"), "--config", repoFile("bench", "full.json"),
		"--workers", "4", "--requests", "300", "--warmup", "200")
	if r["memory_grows_per_request"] != 0.0 || r["tick_memory_grows_per_request"] != 0.0 {
		t.Errorf("memory.grow per request %v, per request in ticks %v, want 0",
			r["memory_grows_per_request"], r["tick_memory_grows_per_request"])
	}
	pages, _ := r["memory_pages"].([]any)
	if len(pages) != 4 {
		t.Fatalf("memory_pages = %v", r["memory_pages"])
	}
	for i, p := range pages {
		if p != float64(m.MemorySection.Min) {
			t.Errorf("VM %d: %v pages, want the initial %d (memory grew)", i, p, m.MemorySection.Min)
		}
	}
}

// TestPerfProfile: --profile N lists at most N functions, largest first,
// whose own instructions add up to at most the total, and does not change
// the total.
func TestPerfProfile(t *testing.T) {
	args := []string{"--wasm", repoFile("dist", "floor.wasm"), "--requests", "10", "--warmup", "10"}
	plain := perfJSON(t, args...)
	prof := perfJSON(t, append(args, "--profile", "5")...)
	if plain["instructions_per_request"] != prof["instructions_per_request"] {
		t.Errorf("total with --profile %v, without %v", prof["instructions_per_request"], plain["instructions_per_request"])
	}
	fs, _ := prof["profile"].([]any)
	if len(fs) == 0 || len(fs) > 5 {
		t.Fatalf("profile = %v", prof["profile"])
	}
	total, _ := prof["instructions_per_request"].(float64)
	sum, prev := 0.0, total
	for _, f := range fs {
		v, _ := f.(map[string]any)["instructions_per_request"].(float64)
		if v <= 0 || v > prev {
			t.Errorf("profile not in decreasing order: %v", fs)
		}
		sum, prev = sum+v, v
	}
	if sum > total {
		t.Errorf("profile sums to %v > total %v", sum, total)
	}
	if _, ok := plain["profile"]; ok {
		t.Error("profile present without --profile")
	}
}

// TestPerfPausedRequests: a policy that pauses every request (a leaky
// bucket spacing requests 2ms apart, one arriving every 1ms) does not hang
// the instrument: the clock moves until the plugin's tick resumes each
// request; the figures are the same twice.
func TestPerfPausedRequests(t *testing.T) {
	cfg := write(t, `{"policies":[{"name":"api","match":{"path_prefix":"/api"},"rate_limit":{"limits":[
 {"name":"smooth","algorithm":"leaky_bucket","requests":500,"per":"1s","burst":1,"max_delay":"200ms"}]}}]}`)
	args := []string{"--wasm", repoFile("dist", "breakwater.wasm"), "--config", cfg, "--requests", "30", "--warmup", "10"}
	a, b := perfJSON(t, args...), perfJSON(t, args...)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("two identical runs differ:\n%v\n%v", a, b)
	}
	st, _ := a["statuses"].(map[string]any)
	if st["200"] != 30.0 || len(st) != 1 {
		t.Errorf("statuses = %v, want 30 x 200 (paused, then resumed)", st)
	}
	if v, _ := a["ticks_per_request"].(float64); v < 0.5 {
		t.Errorf("ticks_per_request = %v: the requests were not held by the plugin", v)
	}
}

// TestPerfUsers: --users sets the number of distinct x-user-id values of
// the request mix (a keyed limit's key cache and leases see that many
// clients): another figure, as deterministic; 0 is a usage error.
func TestPerfUsers(t *testing.T) {
	args := []string{"--wasm", repoFile("dist", "breakwater.wasm"), "--config", repoFile("bench", "perf", "rate_limit.json"),
		"--requests", "150", "--warmup", "150"} // 100 users come back; 1,000 do not
	few := perfJSON(t, args...)
	many := perfJSON(t, append(args, "--users", "1000")...)
	if !reflect.DeepEqual(many, perfJSON(t, append(args, "--users", "1000")...)) {
		t.Fatal("two identical runs with --users 1000 differ")
	}
	if few["instructions_per_request"] == many["instructions_per_request"] {
		t.Errorf("100 and 1000 users: the same instructions per request (%v)", few["instructions_per_request"])
	}
	if code, _, _ := runCLI(append([]string{"perf"}, append(args, "--users", "0")...)...); code != exitUsage {
		t.Errorf("--users 0: exit %d, want %d", code, exitUsage)
	}
}
