package filter

import (
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/deadletter"
)

// Dead-letter scenarios. Records are sent from the tick, on the root
// context; proxytest's wasm runner does not deliver
// proxy_on_http_call_response to the guest, so the scenarios that run in
// both modes check what is sent (the callout and its envelope), and
// TestDeadLetterAnswersNative checks the counting of answers; e2e/ sends
// them to the real sink and Redis through the dev host.

const dlConfig = `{"policies": [{"name": "orders", "circuit_breaker": {"consecutive_failures": 3, "minimum_calls": 3, "open_duration": "1m"},
	"dead_letter": {"cluster": "dlq", "on": ["upstream_failure", "circuit_open"], "max_body_bytes": 16,
	"redact_headers": ["authorization", "x-api-key"], "timeout": "40ms"}}]}`

// post sends request headers and a body in two chunks; every callback must
// continue (the body is never held back).
func (h *harness) post(method, path string, body []string, kv ...string) *exchange {
	id := h.host.InitializeHttpContext()
	a := h.host.CallOnRequestHeaders(id, hdrs(method, path, kv...), len(body) == 0)
	for i, chunk := range body {
		if ba := h.host.CallOnRequestBody(id, []byte(chunk), i == len(body)-1); ba != types.ActionContinue {
			h.t.Fatalf("body chunk %d: action %v, want continue", i, ba)
		}
	}
	return &exchange{h: h, id: id, action: a}
}

// records returns the dead letters sent since the first `from` callouts of
// the root context, decoded and checked.
func (h *harness) records(from int) []deadletter.Envelope {
	h.t.Helper()
	calls := h.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
	var out []deadletter.Envelope
	for _, c := range calls[from:] {
		if c.Upstream != "dlq" || get(c.Headers, ":method") != "POST" || get(c.Headers, ":path") != "/records" ||
			get(c.Headers, "content-type") != "application/json" {
			h.t.Fatalf("callout %s %v", c.Upstream, c.Headers)
		}
		e, err := deadletter.Decode(c.Body)
		if err != nil {
			h.t.Fatalf("envelope: %v\n%s", err, c.Body)
		}
		out = append(out, e)
	}
	return out
}

func TestScenariosDeadLetter(t *testing.T) {
	runScenarios(t, []scenario{
		{"failed POST is recorded after the response, body copied, headers redacted", dlConfig, func(t *testing.T, h *harness) {
			x := h.post("POST", "/orders?id=7", []string{`{"sku":`, `42}`}, "authorization", "Bearer s3cret",
				"X-Api-Key", "k", "content-type", "application/json")
			expectForwarded(t, x)
			x.respond("503")
			if n := len(h.records(0)); n != 0 {
				t.Fatalf("%d records sent before the tick", n)
			}
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != 1 {
				t.Fatalf("%d records, want 1", len(rs))
			}
			e := rs[0]
			if e.Policy != "orders" || e.Reason != "upstream_failure" || e.Status != 503 || e.Method != "POST" ||
				e.Path != "/orders?id=7" || e.Authority != "svc.local" || string(e.Body) != `{"sku":42}` || e.Truncated || e.Attempts < 1 {
				t.Fatalf("record %+v", e)
			}
			if v, _ := e.Header("authorization"); v != deadletter.RedactedValue {
				t.Fatalf("authorization %q", v)
			}
			if v, _ := e.Header("x-api-key"); v != deadletter.RedactedValue {
				t.Fatalf("x-api-key %q", v)
			}
			if v, _ := e.Header("content-type"); v != "application/json" {
				t.Fatalf("content-type %q", v)
			}
			if _, ok := e.Header(":method"); ok {
				t.Fatal("pseudo-headers recorded")
			}
			if strings.Contains(string(h.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)[0].Body), "s3cret") {
				t.Fatal("secret in the record")
			}
			if h.counter(metricdef.Name("breakwater", metricdef.DeadLetterRecordedTotal, "orders")) != 1 {
				t.Fatal("recorded_total")
			}
		}},
		{"GETs, successes and client errors are not recorded", dlConfig, func(t *testing.T, h *harness) {
			h.request("GET", "/orders").respond("503")
			h.post("POST", "/orders", []string{"a"}).respond("201")
			h.post("PUT", "/orders", []string{"a"}).respond("409")
			h.advance(10 * time.Millisecond)
			if rs := h.records(0); len(rs) != 0 {
				t.Fatalf("records %+v", rs)
			}
			if h.counter(metricdef.Name("breakwater", metricdef.DeadLetterRecordedTotal, "orders")) != 0 {
				t.Fatal("recorded_total")
			}
		}},
		{"a body above max_body_bytes is recorded without it, truncated", dlConfig, func(t *testing.T, h *harness) {
			h.post("PATCH", "/orders/1", []string{"0123456789", "0123456789"}).respond("500")
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != 1 || !rs[0].Truncated || len(rs[0].Body) != 0 || rs[0].Method != "PATCH" {
				t.Fatalf("records %+v", rs)
			}
			if h.counter(metricdef.Name("breakwater", metricdef.DeadLetterTruncatedTotal, "orders")) != 1 {
				t.Fatal("truncated_total")
			}
		}},
		{"circuit_open rejections are recorded with the local status and no attempt", dlConfig, func(t *testing.T, h *harness) {
			for i := 0; i < 3; i++ {
				h.request("GET", "/orders").respond("503") // opens the breaker, not recorded (GET)
			}
			x := h.request("DELETE", "/orders/9")
			if x.status() != 503 || x.localHeader("x-breakwater-reason") != "circuit_open" {
				t.Fatalf("status %d %q", x.status(), x.localHeader("x-breakwater-reason"))
			}
			x.end()
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != 1 || rs[0].Reason != "circuit_open" || rs[0].Status != 503 || rs[0].Attempts != 0 || rs[0].Truncated {
				t.Fatalf("records %+v", rs)
			}
		}},
		{"records beyond the in-flight bound are dropped and counted", dlConfig, func(t *testing.T, h *harness) {
			n := deadletter.MaxInFlight + 5
			for i := 0; i < n; i++ {
				h.post("POST", "/orders", []string{"x"}).respond("502")
			}
			if got := h.counter(metricdef.Name("breakwater", metricdef.DeadLetterDroppedTotal, "orders")); got != 5 {
				t.Fatalf("dropped_total %d, want 5", got)
			}
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != deadletter.MaxInFlight {
				t.Fatalf("%d records sent, want %d", len(rs), deadletter.MaxInFlight)
			}
			seen := map[string]bool{}
			for _, e := range rs {
				if seen[e.ID] {
					t.Fatalf("duplicate id %s", e.ID)
				}
				seen[e.ID] = true
			}
			if h.counter(metricdef.Name("breakwater", metricdef.DeadLetterRecordedTotal, "orders")) != uint64(n) {
				t.Fatal("recorded_total")
			}
		}},
		{"bulkhead_full and deadline_exceeded are recorded only when listed in on", `{"policies": [
			{"name": "bh", "match": {"path_prefix": "/bh"}, "bulkhead": {"max_concurrent": 1},
			 "dead_letter": {"cluster": "dlq", "on": ["bulkhead_full"]}},
			{"name": "dl", "match": {"path_prefix": "/dl"}, "timeout": {"request": "2s", "deadline": {"min_remaining": "100ms"}},
			 "dead_letter": {"cluster": "dlq", "on": ["deadline_exceeded"]}},
			{"name": "nope", "match": {"path_prefix": "/nope"}, "bulkhead": {"max_concurrent": 1},
			 "dead_letter": {"cluster": "dlq"}}]}`, func(t *testing.T, h *harness) {
			first := h.post("POST", "/bh", []string{"a"})
			expectForwarded(t, first)
			x := h.post("PUT", "/bh/2", nil)
			expectReason(t, x, 503, "bulkhead_full")
			x.end()
			first.respond("200")
			y := h.post("POST", "/dl", nil, "x-envoy-expected-rq-timeout-ms", "50")
			expectReason(t, y, 504, "deadline_exceeded")
			y.end()
			// The policy without bulkhead_full in on records no rejection.
			held := h.post("POST", "/nope", []string{"a"})
			z := h.post("POST", "/nope", nil)
			expectReason(t, z, 503, "bulkhead_full")
			z.end()
			held.respond("200")
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != 2 {
				t.Fatalf("records %+v", rs)
			}
			got := map[string]deadletter.Envelope{}
			for _, e := range rs {
				got[e.Reason] = e
			}
			if e := got["bulkhead_full"]; e.Policy != "bh" || e.Status != 503 || e.Method != "PUT" || e.Attempts != 0 || e.Path != "/bh/2" {
				t.Fatalf("bulkhead_full record %+v", e)
			}
			if e := got["deadline_exceeded"]; e.Policy != "dl" || e.Status != 504 || e.Method != "POST" {
				t.Fatalf("deadline_exceeded record %+v", e)
			}
		}},
		{"upstream_failure without a breaker uses the default failure_on", `{"policies": [{"name": "p",
			"dead_letter": {"cluster": "dlq"}}]}`, func(t *testing.T, h *harness) {
			h.post("POST", "/", []string{"a"}).respond("504")
			h.post("POST", "/", []string{"a"}).respond("501") // not in the default statuses
			h.advance(10 * time.Millisecond)
			rs := h.records(0)
			if len(rs) != 1 || rs[0].Status != 504 {
				t.Fatalf("records %+v", rs)
			}
			if v, _ := rs[0].Header("authorization"); v != "" {
				t.Fatal(v)
			}
		}},
	})
}

// TestDeadLetterAnswersNative: a 2xx from the sink counts as sent; no
// answer, a timeout or another status as failed, each cause logged once.
func TestDeadLetterAnswersNative(t *testing.T) {
	h, ok := startHarness(t, "native", dlConfig)
	if !ok {
		t.Fatalf("start: %v", h.host.GetCriticalLogs())
	}
	for i := 0; i < 6; i++ {
		h.post("POST", "/orders", []string{"x"}).respond("503")
	}
	h.advance(10 * time.Millisecond)
	calls := h.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
	if len(calls) != 6 {
		t.Fatalf("%d callouts", len(calls))
	}
	answers := [][][2]string{{{":status", "201"}}, {{":status", "204"}}, nil, nil, {{":status", "500"}}, {{":status", "504"}}}
	for i, a := range answers {
		h.host.CallOnHttpCallResponse(calls[i].CalloutID, a, nil, nil)
	}
	if s, f := h.counter(metricdef.Name("breakwater", metricdef.DeadLetterSentTotal, "orders")), h.counter(metricdef.Name("breakwater", metricdef.DeadLetterFailedTotal, "orders")); s != 2 || f != 4 {
		t.Fatalf("sent %d failed %d", s, f)
	}
	var warns []string
	for _, l := range h.host.GetWarnLogs() {
		if strings.Contains(l, "dead_letter") {
			warns = append(warns, l)
		}
	}
	// Causes: no answer (twice: logged once), status 500, timeout.
	if len(warns) != 3 {
		t.Fatalf("warnings %q", warns)
	}
	// The outbox is empty again: the bound counts only what is in flight.
	for i := 0; i < deadletter.MaxInFlight; i++ {
		h.post("POST", "/orders", []string{"x"}).respond("503")
	}
	if d := h.counter(metricdef.Name("breakwater", metricdef.DeadLetterDroppedTotal, "orders")); d != 0 {
		t.Fatalf("dropped %d", d)
	}
}
