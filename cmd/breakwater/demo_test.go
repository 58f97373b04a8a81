package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// timeline is the printed table: row label -> the cells (phases in order,
// then the total when the row has one).
type timeline map[string][]string

// parseTimeline reads the table the demo prints after "timeline".
func parseTimeline(t *testing.T, out string) timeline {
	t.Helper()
	_, rest, ok := strings.Cut(out, "\ntimeline\n")
	if !ok {
		t.Fatalf("no timeline in:\n%s", out)
	}
	tl := timeline{}
	for _, line := range strings.Split(rest, "\n") {
		if line == "" {
			break
		}
		if len(line) < 30 {
			t.Fatalf("short timeline row %q", line)
		}
		label := strings.TrimRight(line[:30], " ")
		tl[label] = strings.Fields(line[30:])
	}
	if got := strings.Join(tl["phase"], " "); got != "healthy failing slow recovered total" {
		t.Fatalf("phase row %q in:\n%s", got, out)
	}
	return tl
}

// cell is the integer in a row for a phase (0..3) or the total (4).
func (tl timeline) cell(t *testing.T, row string, col int) int {
	t.Helper()
	cells, ok := tl[row]
	if !ok || col >= len(cells) {
		t.Fatalf("no row %q column %d: %q", row, col, cells)
	}
	n, err := strconv.Atoi(cells[col])
	if err != nil {
		t.Fatalf("row %q column %d: %v", row, col, err)
	}
	return n
}

// TestDemo runs the demo with its phases scaled down to 6 seconds and
// checks what the timeline must show. Everything asserted is a count of the
// demo's steps, which run with the plugin's clock held (demo_steps.go), or
// a bound that holds whatever the machine's speed (the bulkhead's cap, the
// token bucket's bound on plugin time, rows adding up): nothing depends on
// how much of the real-time load the machine managed to serve.
func TestDemo(t *testing.T) {
	needWasm(t)
	var stdout, stderr syncBuffer
	code := demo([]string{"--wasm", testWasm, "--duration", "6s"}, &stdout, &stderr, demoEnv{tty: true})
	out := stdout.String()
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, stderr.String(), out)
	}
	t.Logf("demo output:\n%s", strings.ReplaceAll(out, "\r", "\n"))
	// The progress line is rewritten in place.
	if !strings.Contains(out, "\r[") || !strings.Contains(out, "sent ") {
		t.Errorf("no progress line")
	}
	tl := parseTimeline(t, out)
	const healthy, failing, recovered, total = 0, 1, 3, 4 // columns
	if n := tl.cell(t, "  to open", failing); n < 1 {
		t.Errorf("no transition to open in the failing phase (%d)", n)
	}
	// Dead letters: failed POSTs recorded, stored in the real Redis, replayed
	// once each to the recovered upstream.
	for _, want := range []string{"failed for good (503 after the retry)", "0 failed, 0 dropped", "each exactly once (Idempotency-Key = record id)"} {
		if !strings.Contains(out, want) {
			t.Errorf("dead letters: no %q", want)
		}
	}
	if strings.Contains(out, "dead letters") && strings.Contains(out, "skipped:") {
		t.Errorf("dead letters skipped")
	}
	// The burst step runs with the plugin's clock held still: exact counts.
	if want := "[ok] per-user limit, clock held still: mallory's 40 back-to-back requests: 20 admitted (the burst, 20), 20 rejected rate_limited, 0 other"; !strings.Contains(out, want) {
		t.Errorf("no %q", want)
	}
	// The bulkhead step: 6 held at the upstream, 6 queued, the 13th rejected.
	if want := "[ok] bulkhead, upstream held, clock held: 6 requests hold the 6 slots, 6 wait in the queue (max_size 6); the next one: 503 bulkhead_full; 12 served once the upstream answered, 0 other"; !strings.Contains(out, want) {
		t.Errorf("no %q", want)
	}
	// The breaker steps: it opens in the failing phase, then sheds 10
	// requests that never reach the upstream; it closes in the recovered one.
	if want := "then 10 of 10 rejected circuit_open, 0 of them reached the upstream"; !strings.Contains(out, "[ok] breaker opened ") || !strings.Contains(out, want) {
		t.Errorf("no [ok] breaker opened ... %q", want)
	}
	if !strings.Contains(out, "[ok] breaker closed again in the recovered phase") {
		t.Errorf("no [ok] breaker closed again")
	}
	if n := tl.cell(t, "rejected circuit_open", failing); n < demoShedProbes {
		t.Errorf("%d circuit_open rejections in the failing phase, the step alone has %d", n, demoShedProbes)
	}
	if n := tl.cell(t, "  to closed", recovered); n < 1 && !strings.Contains(out, "(max_open_duration): the breaker was closed;") {
		t.Errorf("no transition to closed in the recovered phase")
	}
	// The bulkhead bounds what the upstream sees, in every phase.
	for col := healthy; col <= total; col++ {
		if n := tl.cell(t, "upstream peak concurrency", col); n > demoMaxConcurrent {
			t.Errorf("column %d: the upstream saw %d concurrent requests, max_concurrent is %d", col, n, demoMaxConcurrent)
		}
	}
	if strings.Contains(out, "[!!]") {
		t.Errorf("a check of the demo failed (and it exited 0)")
	}
	// No permit leaked: the bulkhead gauges are back to 0 after the load.
	if !strings.Contains(out, "[ok] bulkhead gave every slot back: 0 active, 0 queued") {
		t.Errorf("bulkhead slots not all released")
	}
	// Rows add up: every answered request is counted once.
	sum := tl.cell(t, "admitted (2xx)", total) + tl.cell(t, "other answers (no reason)", total) + tl.cell(t, "client errors", total)
	for label := range tl {
		if strings.HasPrefix(label, "rejected ") {
			sum += tl.cell(t, label, total)
		}
	}
	if sum != tl.cell(t, "requests", total) || sum < demoShedProbes+demoHalfOpen {
		t.Errorf("rows add up to %d, requests %d", sum, tl.cell(t, "requests", total))
	}
	if n := tl.cell(t, "admitted (2xx)", recovered); n < demoHalfOpen {
		t.Errorf("admitted in the recovered phase: %d, the step alone has %d", n, demoHalfOpen)
	}
	if stderr.String() != "" {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestDemoConfigValid(t *testing.T) {
	for _, scale := range []float64{0.1, 0.2, 1, 20} {
		if _, err := config.Load(demoConfig(scale)); err != nil {
			t.Fatalf("scale %v: %v", scale, err)
		}
	}
	var stdout, stderr syncBuffer
	if c := demo([]string{"--print-config"}, &stdout, &stderr, demoEnv{}); c != 0 || stdout.String() != string(demoConfig(1)) {
		t.Fatalf("--print-config: %d %q %q", c, stdout.String(), stderr.String())
	}
}

func TestDemoArguments(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--duration", "1s"}, 2, "breakwater: demo: bad arguments\nusage: breakwater demo"},
		{[]string{"--workers", "0"}, 2, "breakwater: demo: bad arguments\nusage: breakwater demo"},
		{[]string{"extra"}, 2, "breakwater: demo: bad arguments\nusage: breakwater demo"},
		{[]string{"--nope"}, 2, "breakwater: demo: flag provided but not defined: -nope\nusage: breakwater demo"},
		{[]string{"--wasm", "/nonexistent.wasm"}, 1, "breakwater: demo: open /nonexistent.wasm: no such file or directory (run make build)\n"},
	} {
		var stdout, stderr syncBuffer
		c := demo(tc.args, &stdout, &stderr, demoEnv{})
		if c != tc.code || !strings.HasPrefix(stderr.String(), tc.err) || stdout.String() != "" {
			t.Errorf("demo %q = %d %q %q; want %d %q", tc.args, c, stdout.String(), stderr.String(), tc.code, tc.err)
		}
	}
}

// A module that is not a plugin: the demo says so and exits non-zero.
func TestDemoPluginFailsToStart(t *testing.T) {
	var stdout, stderr syncBuffer
	bad := t.TempDir() + "/bad.wasm"
	writeFile(t, bad, "\x00asm\x01\x00\x00\x00")
	if c := demo([]string{"--wasm", bad, "--duration", "3s"}, &stdout, &stderr, demoEnv{}); c != 1 ||
		!strings.HasPrefix(stderr.String(), "breakwater: demo: the plugin did not start: ") {
		t.Fatalf("%d %q %q", c, stdout.String(), stderr.String())
	}
}
