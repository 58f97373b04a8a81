package filter

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/deadletter"
)

// addConfigSeeds adds the configuration parser's committed fuzz corpus and
// the full example of the contract as seeds.
func addConfigSeeds(f *testing.F) {
	dir := filepath.Join("config", "testdata", "fuzz", "FuzzParseConfig")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		// Go's corpus format: "go test fuzz v1\n[]byte(\"...\")\n".
		lines := strings.SplitN(string(b), "\n", 2)
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			continue
		}
		lit := strings.TrimSuffix(strings.TrimSpace(lines[1]), ")")
		lit = strings.TrimPrefix(lit, "[]byte(")
		if s, err := strconv.Unquote(lit); err == nil {
			f.Add([]byte(s))
		}
	}
	if b, err := os.ReadFile(filepath.Join("config", "testdata", "full.json")); err == nil {
		f.Add(b)
	}
}

// FuzzPluginStart: whatever the plugin configuration, the plugin starts
// exactly when `breakwater validate` (config.Load) accepts it, and a refused
// start logs exactly one critical line; it never panics (a recovered panic
// would show as an "internal error" line).
func FuzzPluginStart(f *testing.F) {
	addConfigSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, loadErr := config.Load(data)
		h, ok := startHarness(t, "native", string(data))
		logs := h.host.GetCriticalLogs()
		switch {
		case loadErr == nil && !ok:
			t.Fatalf("valid configuration failed to start: %v\n%s", logs, data)
		case loadErr != nil && ok:
			t.Fatalf("invalid configuration started (%v)\n%s", loadErr, data)
		case !ok && (len(logs) != 1 || logs[0] != loadErr.Error()):
			t.Fatalf("start failure logged %q, want exactly %q", logs, loadErr.Error())
		}
		for _, l := range append(h.host.GetErrorLogs(), logs...) {
			if strings.Contains(l, "internal error") {
				t.Fatalf("panic at start: %s", l)
			}
		}
	})
}

// fuzzPolicy uses every block, so a request crosses every stage.
const fuzzPolicy = `{"policies": [{"name": "all",
	"fault": {"abort": {"percent": 1, "status": 500}, "delay": {"percent": 1, "duration": "1ms"}, "only_with_header": "x-f"},
	"timeout": {"request": "2s", "deadline": {"propagate": true, "min_remaining": "1ms"},
	            "adaptive": {"min": "10ms", "max": "5s", "min_samples": 3}},
	"rate_limit": {"limits": [
		{"name": "u", "key": ["header:x-user-id", "path", "method", "authority", "remote_address", "property:request.id"], "requests": 1000, "per": "1s",
		 "tier": {"from": "header:x-tier", "default": "b", "limits": {"g": {"requests": 2000, "per": "1s"}}}},
		{"name": "s", "key": ["path"], "algorithm": "sliding_window", "requests": 1000, "per": "1s"},
		{"name": "l", "key": ["header:x-user-id"], "algorithm": "leaky_bucket", "requests": 1000, "per": "1s", "max_delay": "5ms"}]},
	"circuit_breaker": {"key": ["header:x-backend"], "window": {"type": "time", "size": "10s"}, "slow_call_duration": "1s"},
	"bulkhead": {"key": ["authority"], "max_concurrent": 100, "queue": {"max_size": 10, "max_wait": "10ms"}},
	"retry": {"max_retries": 2, "budget": {"ratio": 0.5, "min_per_second": 10}},
	"fallback": {"on": ["circuit_open", "upstream_failure", "rate_limited"], "body": "x",
	             "stale": {"max_age": "1s", "max_body_bytes": 16}},
	"dead_letter": {"cluster": "dlq", "on": ["upstream_failure", "circuit_open", "bulkhead_full", "deadline_exceeded"],
	                "methods": ["GET", "POST", "DELETE"], "max_body_bytes": 8}}]}`

// FuzzRequest: no request header, path, method or response the host can
// hand the plugin makes it panic or wedge: every stream either goes
// upstream, is paused (then resumed or answered by the tick), or is answered
// locally.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/orders/1?x=1", "svc.local", "x-user-id", "alice", "200", []byte("body"))
	f.Add("", "", "", "", "", "", []byte(nil))
	f.Add("POST", "\x00\xff", "[::1]:80", "x-envoy-expected-rq-timeout-ms", "-5", "503", []byte{})
	f.Add("GET", "/", "a", "grpc-timeout", "99999999H", "abc", []byte("x"))
	f.Add("GET", "/", "a", "x-f", "1", "504", []byte("x"))
	f.Add("DELETE", strings.Repeat("/a", 2000), "b", "x-tier", "g", "999", []byte(strings.Repeat("z", 100)))
	f.Fuzz(func(t *testing.T, method, path, authority, name, value, status string, body []byte) {
		h, ok := startHarness(t, "native", fuzzPolicy)
		if !ok {
			t.Fatal(h.host.GetCriticalLogs())
		}
		for i := 0; i < 3; i++ {
			id := h.host.InitializeHttpContext()
			hs := [][2]string{{":method", method}, {":path", path}, {":authority", authority}, {strings.ToLower(name), value}}
			h.host.CallOnRequestHeaders(id, hs, len(body) == 0)
			if len(body) > 0 && h.host.GetSentLocalResponse(id) == nil {
				h.host.CallOnRequestBody(id, body, true)
			}
			h.advance(20 * 1e6) // let the tick resume or answer paused streams
			if h.host.GetSentLocalResponse(id) == nil {
				h.host.CallOnResponseHeaders(id, [][2]string{{":status", status}, {"content-type", value}}, false)
				h.host.CallOnResponseBody(id, body, true)
			}
			h.host.CompleteHttpContext(id)
		}
		h.advance(20 * 1e6) // the tick sends the dead letters
		for _, c := range h.host.GetCalloutAttributesFromContext(proxytest.PluginContextID) {
			if _, err := deadletter.Decode(c.Body); err != nil {
				t.Fatalf("dead letter the sink would refuse: %v\n%s", err, c.Body)
			}
		}
		for _, l := range h.host.GetErrorLogs() {
			if strings.Contains(l, "internal error") {
				t.Fatalf("panic in the request path: %s", l)
			}
		}
	})
}

// FuzzStaleRecord: decoding any bytes as a stale record never panics, a
// record decodes only for its own id, and a decoded record re-encodes to
// the same bytes.
func FuzzStaleRecord(f *testing.F) {
	f.Add(encodeStale("9:svc.local,2:/a,", time.Unix(0, 42), [][2]string{{"content-type", "text/plain"}, {"content-encoding", "gzip"}}, []byte("body")), "9:svc.local,2:/a,")
	f.Add([]byte{0, 0}, "")
	f.Add([]byte{1, 0, 'x', 0, 0, 0, 0, 0, 0, 0, 0, 2, 1}, "x")
	f.Fuzz(func(t *testing.T, v []byte, id string) {
		at, hdrs, body, ok := decodeStale(v, id)
		if !ok {
			return
		}
		if got := encodeStale(id, at, hdrs, body); string(got) != string(v) {
			t.Fatalf("round trip changed the record: %x -> %x", v, got)
		}
		if _, _, _, other := decodeStale(v, id+"x"); other {
			t.Fatal("a record decoded for another id")
		}
	})
}
