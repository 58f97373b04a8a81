package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const testWasm = "../../dist/breakwater.wasm"

// syncBuffer is a bytes.Buffer safe for the serve goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func needWasm(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(testWasm); err != nil {
		t.Fatalf("%v: run make build first", err)
	}
}

// testUpstream answers 200 or 503 (failing), and holds requests to /hold
// until release is closed.
type testUpstream struct {
	*httptest.Server
	failing  atomic.Bool
	count    atomic.Int64
	holding  chan struct{} // one value per request that entered /api/hold
	release  chan struct{}
	relOnce  sync.Once
	lastPath atomic.Value
}

func newTestUpstream(t *testing.T) *testUpstream {
	u := &testUpstream{holding: make(chan struct{}, 8), release: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.count.Add(1)
		u.lastPath.Store(r.URL.Path)
		if r.URL.Path == "/hold" {
			u.holding <- struct{}{}
			<-u.release
		}
		if u.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "down\n")
			return
		}
		io.WriteString(w, "hello from upstream\n")
	}))
	t.Cleanup(func() { u.relOnce.Do(func() { close(u.release) }); u.Close() })
	return u
}

type answer struct {
	status int
	reason string
	body   string
}

func call(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("x-breakwater-reason"), string(b)}
}

// The breaker trips on 3 consecutive failures and stays open an hour: only
// shared data can carry that across a reload.
const serveConfigV1 = `{"policies":[{"name":"api","match":{"path_prefix":"/api"},
  "circuit_breaker":{"consecutive_failures":3,"open_duration":"1h","max_open_duration":"1h"},
  "timeout":{"request":"2s"}}]}`

// V2 keeps the api policy as it is and puts a new policy in front of it.
const serveConfigV2 = `{"policies":[
  {"name":"ping","match":{"path_prefix":"/ping"},"fault":{"abort":{"percent":100,"status":418}}},
  {"name":"api","match":{"path_prefix":"/api"},
  "circuit_breaker":{"consecutive_failures":3,"open_duration":"1h","max_open_duration":"1h"},
  "timeout":{"request":"2s"}}]}`

const serveConfigBad = `{"policies":[{"name":"api","circuit_breaker":{"failure_rate_threshold":1.5}}]}`

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestServe runs serve in-process: requests through the plugin, a strict
// scrape of /stats/prometheus, SIGHUP reloads (good and bad), graceful
// SIGINT with a request in flight.
func TestServe(t *testing.T) {
	needWasm(t)
	up := newTestUpstream(t)
	cfgPath := filepath.Join(t.TempDir(), "plugin.json")
	writeFile(t, cfgPath, serveConfigV1)

	sigs := make(chan os.Signal, 1)
	ready := make(chan [2]string, 1)
	reloaded := make(chan error, 1)
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- serve([]string{"--wasm", testWasm, "--config", cfgPath, "--listen", "127.0.0.1:0",
			"--admin", "127.0.0.1:0", "--cluster", "backend=" + up.URL, "--upstream", "backend", "--workers", "2"},
			&stdout, &stderr, serveEnv{signals: sigs,
				ready:    func(l, a string) { ready <- [2]string{l, a} },
				reloaded: func(err error) { reloaded <- err }})
	}()
	var addrs [2]string
	select {
	case addrs = <-ready:
	case c := <-code:
		t.Fatalf("serve exited %d: %s", c, stderr.String())
	}
	proxy, admin := "http://"+addrs[0], "http://"+addrs[1]
	if out := stdout.String(); !strings.Contains(out, "listening on "+proxy) || !strings.Contains(out, "admin on "+admin) {
		t.Fatalf("stdout does not say where it listens: %q", out)
	}

	// Through the plugin to the upstream.
	if a := call(t, proxy+"/api/orders"); a.status != 200 || a.body != "hello from upstream\n" {
		t.Fatalf("healthy: %+v", a)
	}
	if up.lastPath.Load() != "/api/orders" {
		t.Fatalf("upstream saw %v", up.lastPath.Load())
	}
	// Three failures open the breaker; the fourth request never reaches the upstream.
	up.failing.Store(true)
	for i := 0; i < 3; i++ {
		if a := call(t, proxy+"/api/orders"); a.status != 503 || a.reason != "" {
			t.Fatalf("failure %d: %+v", i, a)
		}
	}
	if a := call(t, proxy+"/api/orders"); a.status != 503 || a.reason != "circuit_open" {
		t.Fatalf("breaker not open: %+v", a)
	}
	if n := up.count.Load(); n != 4 {
		t.Fatalf("upstream saw %d requests, want 4", n)
	}

	// The admin port: Prometheus text, strictly well formed, with the plugin's numbers.
	text := get(t, admin+"/stats/prometheus")
	fams, err := parsePrometheus(text)
	if err != nil {
		t.Fatalf("/stats/prometheus: %v\n%s", err, text)
	}
	// One family per metric, labelled by policy (and reason, breaker state).
	for sample, want := range map[string]float64{
		`breakwater_requests_total{policy="api"}`:                                   5,
		`breakwater_rejected_total{policy="api",reason="circuit_open"}`:             1,
		`breakwater_rejected_total{policy="api",reason="rate_limited"}`:             0,
		`breakwater_circuit_breaker_state{policy="api"}`:                            1,
		`breakwater_circuit_breaker_transitions_total{policy="api",to="open"}`:      1,
		`breakwater_circuit_breaker_transitions_total{policy="api",to="half_open"}`: 0,
	} {
		name, _, _ := strings.Cut(sample, "{")
		f := fams[name]
		if v, ok := f.samples[sample]; f == nil || !ok || v != want {
			t.Errorf("%s = %+v, want %v", sample, f, want)
		}
	}
	if f := fams["breakwater_circuit_breaker_transitions_total"]; f == nil || f.typ != "counter" {
		t.Errorf("transitions_total family: %+v", f)
	}
	if f := fams["breakwater_circuit_breaker_state"]; f == nil || f.typ != "gauge" {
		t.Errorf("state family: %+v", f)
	}
	// The histogram of the timeouts set: the 4 requests that went upstream, 2000ms each.
	if f := fams["breakwater_timeout_effective"]; f == nil || f.typ != "histogram" ||
		f.samples[`breakwater_timeout_effective_count{policy="api"}`] != 4 || f.samples[`breakwater_timeout_effective_sum{policy="api"}`] != 8000 ||
		f.samples[`breakwater_timeout_effective_bucket{le="1000",policy="api"}`] != 0 || f.samples[`breakwater_timeout_effective_bucket{le="2500",policy="api"}`] != 4 {
		t.Errorf("timeout histogram: %+v", f)
	}
	// /stats shows the stat names as the plugin defines them, tag segments included.
	if s := get(t, admin+"/stats"); !strings.Contains(s, "wasmcustom.breakwater.policy=.=api;.;requests_total: 5\n") {
		t.Errorf("/stats: %s", s)
	}
	if s := get(t, admin+"/ready"); s != "LIVE\n" {
		t.Errorf("/ready: %q", s)
	}

	// SIGHUP with a new configuration: the new policy applies, and the
	// breaker of the unchanged policy is still open (shared data kept)
	// although the upstream is healthy again.
	up.failing.Store(false)
	writeFile(t, cfgPath, serveConfigV2)
	sigs <- syscall.SIGHUP
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	if a := call(t, proxy+"/ping"); a.status != 418 || a.reason != "fault_abort" {
		t.Fatalf("new policy not applied: %+v", a)
	}
	if a := call(t, proxy+"/api/orders"); a.status != 503 || a.reason != "circuit_open" {
		t.Fatalf("breaker state lost in the reload: %+v", a)
	}
	if n := up.count.Load(); n != 4 {
		t.Fatalf("upstream saw %d requests after the reload, want still 4", n)
	}

	// A bad file: the one config error line, the previous configuration kept.
	writeFile(t, cfgPath, serveConfigBad)
	sigs <- syscall.SIGHUP
	err = <-reloaded
	const wantErr = "breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5"
	if err == nil || err.Error() != wantErr {
		t.Fatalf("bad reload: %v", err)
	}
	if a := call(t, proxy+"/ping"); a.status != 418 {
		t.Fatalf("previous configuration not kept: %+v", a)
	}
	logs := stderr.String()
	if !strings.Contains(logs, "breakwater: reloaded "+cfgPath+"\n") ||
		!strings.Contains(logs, "breakwater: reload failed, previous configuration kept: "+wantErr+"\n") {
		t.Fatalf("stderr: %s", logs)
	}

	// SIGINT with a request in flight (on a path no policy matches, so the
	// open breaker does not answer it): the request completes, new
	// connections are refused, serve exits 0.
	inflight := make(chan answer, 1)
	go func() {
		resp, err := http.Get(proxy + "/hold")
		if err != nil {
			inflight <- answer{status: -1, body: err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- answer{status: resp.StatusCode, body: string(b)}
	}()
	<-up.holding
	sigs <- syscall.SIGINT
	refused := false
	for i := 0; i < 500 && !refused; i++ { // the listener closes at once; bounded wait
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			refused = true
			break
		}
		c.Close()
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Fatal("the listener still accepts after SIGINT")
	}
	select {
	case c := <-code:
		t.Fatalf("serve exited %d with a request in flight", c)
	default:
	}
	up.relOnce.Do(func() { close(up.release) })
	if a := <-inflight; a.status != 200 || a.body != "hello from upstream\n" {
		t.Fatalf("in-flight request: %+v", a)
	}
	if c := <-code; c != 0 {
		t.Fatalf("serve exited %d: %s", c, stderr.String())
	}
	if logs := stderr.String(); !strings.Contains(logs, "breakwater: interrupt: shutting down\n") || !strings.HasSuffix(logs, "breakwater: stopped\n") {
		t.Fatalf("stderr: %s", logs)
	}
	if _, err := net.Dial("tcp", addrs[1]); err == nil {
		t.Fatal("the admin listener still accepts")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The process's real signals reach serve through runServe.
func TestServeRealSignals(t *testing.T) {
	needWasm(t)
	up := newTestUpstream(t)
	cfgPath := filepath.Join(t.TempDir(), "plugin.json")
	writeFile(t, cfgPath, serveConfigV1)
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- runServe([]string{"--wasm", testWasm, "--config", cfgPath, "--listen", "127.0.0.1:0",
			"--admin", "", "--cluster", "upstream=" + up.URL, "--workers", "1"}, &stdout, &stderr)
	}()
	// signal.Notify is in place before serve prints where it listens.
	waitFor(t, "listening", func() bool { return strings.Contains(stdout.String(), "listening on") }, code)
	if strings.Contains(stdout.String(), "admin on") {
		t.Fatalf("--admin \"\" still serves an admin port: %s", stdout.String())
	}
	writeFile(t, cfgPath, serveConfigV2)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reload", func() bool { return strings.Contains(stderr.String(), "breakwater: reloaded ") }, code)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if c := <-code; c != 0 || !strings.Contains(stderr.String(), "breakwater: terminated: shutting down\n") {
		t.Fatalf("exit %d, stderr %s", c, stderr.String())
	}
}

// waitFor polls cond (bounded by a count of polls, not a deadline) and
// fails if serve exits first.
func waitFor(t *testing.T, what string, cond func() bool, code chan int) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		select {
		case c := <-code:
			t.Fatalf("serve exited %d while waiting for %s", c, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("no %s", what)
}

func TestServeArguments(t *testing.T) {
	needWasm(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	writeFile(t, good, serveConfigV1)
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, serveConfigBad)
	missing := filepath.Join(dir, "missing.json")
	up := "--cluster=upstream=http://127.0.0.1:1"
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string // exact, or a prefix when it ends with "..."
	}{
		{"invalid config", []string{"--config", bad, up}, 1,
			"breakwater: config: policies[0].circuit_breaker.failure_rate_threshold: must be in (0,1], got 1.5\n"},
		{"missing config", []string{"--config", missing, up}, 1, "breakwater: open " + missing + ": no such file or directory\n"},
		{"no config", []string{up}, 2, "breakwater: serve: --config is required\n..."},
		{"no cluster", []string{"--config", good}, 2, "breakwater: serve: at least one --cluster NAME=URL is required\n..."},
		{"bad cluster", []string{"--config", good, "--cluster", "nourl"}, 2, "breakwater: serve: invalid value \"nourl\" for flag -cluster: want NAME=URL, got \"nourl\"\n..."},
		{"unknown upstream", []string{"--config", good, up, "--upstream", "x"}, 2, "breakwater: serve: --upstream \"x\" is not a --cluster\n"},
		{"ambiguous upstream", []string{"--config", good, "--cluster", "a=http://127.0.0.1:1", "--cluster", "b=http://127.0.0.1:2"}, 2,
			"breakwater: serve: several clusters and none named \"upstream\": say which with --upstream\n"},
		{"bad cluster URL", []string{"--config", good, "--cluster", "upstream=ftp://x", "--wasm", testWasm, "--listen", "127.0.0.1:0", "--admin", ""}, 1,
			"breakwater: serve: the plugin did not start: devhost: options: cluster \"upstream\": want an http(s) base URL, got \"ftp://x\"\n"},
		{"no wasm", []string{"--config", good, up, "--wasm", filepath.Join(dir, "none.wasm")}, 1,
			"breakwater: serve: open " + filepath.Join(dir, "none.wasm") + ": no such file or directory (run make build)\n"},
		{"workers", []string{"--config", good, up, "--workers", "0"}, 2, "breakwater: serve: --workers must be >= 1, got 0\n"},
		{"log level", []string{"--config", good, up, "--log-level", "loud"}, 2, "breakwater: serve: unknown --log-level \"loud\"\n"},
		{"extra argument", []string{"--config", good, up, "extra"}, 2, "breakwater: serve: unexpected argument \"extra\"\n..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			c := serve(tc.args, &stdout, &stderr, serveEnv{})
			got := stderr.String()
			ok := got == tc.stderr
			if p, found := strings.CutSuffix(tc.stderr, "..."); found {
				ok = strings.HasPrefix(got, p) && strings.Contains(got, "usage: breakwater serve")
			}
			if c != tc.code || !ok || stdout.String() != "" {
				t.Fatalf("serve %q = %d, stdout %q, stderr %q; want %d, %q", tc.args, c, stdout.String(), got, tc.code, tc.stderr)
			}
		})
	}
	var stdout, stderr syncBuffer
	if c := serve([]string{"-h"}, &stdout, &stderr, serveEnv{}); c != 0 || !strings.HasPrefix(stdout.String(), "usage: breakwater serve") {
		t.Fatalf("-h: %d %q %q", c, stdout.String(), stderr.String())
	}
}

// A configuration that calls a cluster the dev host was not given is
// reported at start, naming the policy and the cluster; the host starts.
func TestServeReportsUnknownCluster(t *testing.T) {
	needWasm(t)
	up := newTestUpstream(t)
	cfgPath := filepath.Join(t.TempDir(), "plugin.json")
	writeFile(t, cfgPath, `{"policies":[{"name":"mesh","rate_limit":{
 "limits":[{"name":"users","scope":"global","key":["header:x-user-id"],"descriptor_key":"user"}],
 "service":{"cluster":"ratelimit","domain":"breakwater"}}}]}`)
	sigs := make(chan os.Signal, 1)
	ready := make(chan struct{}, 1)
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- serve([]string{"--wasm", testWasm, "--config", cfgPath, "--listen", "127.0.0.1:0", "--admin", "",
			"--cluster", "upstream=" + up.URL, "--workers", "1"},
			&stdout, &stderr, serveEnv{signals: sigs, ready: func(string, string) { ready <- struct{}{} }})
	}()
	select {
	case <-ready:
	case c := <-code:
		t.Fatalf("serve exited %d: %s", c, stderr.String())
	}
	want := `breakwater: serve: warning: policy "mesh": rate_limit.service.cluster "ratelimit" is not a --cluster: every call to the rate limit service will fail and its global limits follow failure_mode allow (add --cluster ratelimit=URL)` + "\n"
	if got := stderr.String(); got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
	sigs <- syscall.SIGINT
	if c := <-code; c != 0 {
		t.Fatalf("exit %d", c)
	}
}
