package filter

import (
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/bulkhead"
)

func expectReason(t *testing.T, x *exchange, status int, reason string) {
	t.Helper()
	if x.status() != status || x.localHeader("x-breakwater-reason") != reason {
		t.Fatalf("want %d %s, got %d %q", status, reason, x.status(), x.localHeader("x-breakwater-reason"))
	}
}

func (x *exchange) paused() bool {
	return x.local() == nil && x.h.host.GetCurrentHttpStreamAction(x.id) == types.ActionPause
}

func TestScenariosBulkhead(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name:   "rejects beyond max_concurrent without a queue; a response frees the slot",
			config: `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 2}}]}`,
			run: func(t *testing.T, h *harness) {
				a, b := h.request("GET", "/"), h.request("GET", "/")
				expectForwarded(t, a)
				expectForwarded(t, b)
				if h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")) != 2 {
					t.Fatalf("active gauge %d", h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")))
				}
				c := h.request("GET", "/")
				expectReason(t, c, 503, "bulkhead_full")
				c.end()
				a.respond("200")
				expectForwarded(t, h.request("GET", "/"))
				if n := h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "svc", metricdef.LabelReason, "bulkhead_full")); n != 1 {
					t.Fatalf("rejected_total.bulkhead_full %d", n)
				}
			},
		},
		{
			name:   "keyed bulkheads: one cap per key, the gauges sum the keys",
			config: `{"policies": [{"name": "svc", "bulkhead": {"key": ["header:x-tenant"], "max_concurrent": 1}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/", "x-tenant", "a")
				b := h.request("GET", "/", "x-tenant", "b")
				expectForwarded(t, a)
				expectForwarded(t, b)
				expectReason(t, h.request("GET", "/", "x-tenant", "a"), 503, "bulkhead_full")
				if g := h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")); g != 2 {
					t.Fatalf("active gauge %d, want 2", g)
				}
				a.respond("200")
				b.end()
				if g := h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")); g != 0 {
					t.Fatalf("active gauge %d, want 0", g)
				}
			},
		},
		{
			name:   "a reset releases the slot exactly once",
			config: `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 1}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/")
				expectForwarded(t, a)
				a.end() // stream reset, no response
				b := h.request("GET", "/")
				expectForwarded(t, b)
				expectReason(t, h.request("GET", "/"), 503, "bulkhead_full")
				b.respond("200")
				if h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")) != 0 {
					t.Fatalf("active gauge %d after all ended", h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")))
				}
			},
		},
		{
			name:   "queue: waits paused, resumed from the tick when a slot frees; full queue rejects",
			config: `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 1, "queue": {"max_size": 1, "max_wait": "5s"}}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/")
				expectForwarded(t, a)
				b := h.request("GET", "/")
				if !b.paused() {
					t.Fatalf("second request not queued: status %d", b.status())
				}
				if h.gauge(metricdef.Name("breakwater", metricdef.BulkheadQueued, "svc")) != 1 {
					t.Fatal("queued gauge != 1")
				}
				expectReason(t, h.request("GET", "/"), 503, "bulkhead_full")
				h.advance(20 * time.Millisecond)
				if !b.paused() {
					t.Fatal("resumed while the slot is held")
				}
				a.respond("200")
				h.advance(20 * time.Millisecond)
				if !b.forwarded() {
					t.Fatal("queued request not resumed after the slot freed")
				}
				if h.gauge(metricdef.Name("breakwater", metricdef.BulkheadQueued, "svc")) != 0 || h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")) != 1 {
					t.Fatal("gauges wrong after resume")
				}
				b.respond("200")
			},
		},
		{
			name:   "queue: wait expiry rejects; a reset waiter leaves the queue",
			config: `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 1, "queue": {"max_size": 1, "max_wait": "200ms"}}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/")
				expectForwarded(t, a)
				b := h.request("GET", "/")
				if !b.paused() {
					t.Fatal("not queued")
				}
				h.advance(300 * time.Millisecond)
				expectReason(t, b, 503, "bulkhead_full")
				b.end()
				c := h.request("GET", "/")
				if !c.paused() {
					t.Fatal("queue not free after expiry")
				}
				c.end() // reset while queued
				d := h.request("GET", "/")
				if !d.paused() {
					t.Fatal("queue not free after the waiter's reset")
				}
				if h.gauge(metricdef.Name("breakwater", metricdef.BulkheadQueued, "svc")) != 1 {
					t.Fatalf("queued gauge %d", h.gauge(metricdef.Name("breakwater", metricdef.BulkheadQueued, "svc")))
				}
			},
		},
		{
			name: "bulkhead full after the rate limiter admitted: the token is refunded",
			config: `{"policies": [{"name": "svc", "rate_limit": {"limits": [{"name": "all", "requests": 2, "per": "1h"}]},
				"bulkhead": {"max_concurrent": 1}}]}`,
			run: func(t *testing.T, h *harness) {
				a := h.request("GET", "/")
				expectForwarded(t, a)
				expectReason(t, h.request("GET", "/"), 503, "bulkhead_full") // refunds its token
				a.respond("200")
				b := h.request("GET", "/")
				expectForwarded(t, b) // would be 429 without the refund
				b.respond("200")
				expectRejected(t, h.request("GET", "/"), "svc")
			},
		},
	})
}

func TestScenariosFault(t *testing.T) {
	runScenarios(t, []scenario{
		{
			name:   "abort every request with the configured status",
			config: `{"policies": [{"name": "svc", "fault": {"abort": {"percent": 100, "status": 418}}}]}`,
			run: func(t *testing.T, h *harness) {
				expectReason(t, h.request("GET", "/"), 418, "fault_abort")
				if h.counter(metricdef.Name("breakwater", metricdef.FaultAbortedTotal, "svc")) != 1 || h.counter(metricdef.Name("breakwater", metricdef.RejectedTotal, "svc", metricdef.LabelReason, "fault_abort")) != 1 {
					t.Fatal("fault counters")
				}
			},
		},
		{
			name:   "delay pauses then resumes from the tick",
			config: `{"policies": [{"name": "svc", "fault": {"delay": {"percent": 100, "duration": "200ms"}}}]}`,
			run: func(t *testing.T, h *harness) {
				x := h.request("GET", "/")
				if !x.paused() {
					t.Fatal("not delayed")
				}
				h.advance(100 * time.Millisecond)
				if !x.paused() {
					t.Fatal("resumed early")
				}
				h.advance(150 * time.Millisecond)
				if !x.forwarded() {
					t.Fatal("not resumed")
				}
				if h.counter(metricdef.Name("breakwater", metricdef.FaultDelayedTotal, "svc")) != 1 {
					t.Fatal("delayed_total")
				}
			},
		},
		{
			name: "only_with_header gates the fault; 0 percent never aborts",
			config: `{"policies": [{"name": "never", "match": {"path_prefix": "/never"}, "fault": {"abort": {"percent": 0}}},
				{"name": "svc", "fault": {"abort": {"percent": 100}, "only_with_header": "x-breakwater-fault"}}]}`,
			run: func(t *testing.T, h *harness) {
				expectForwarded(t, h.request("GET", "/"))
				expectReason(t, h.request("GET", "/", "x-breakwater-fault", "1"), 503, "fault_abort")
				for i := 0; i < 20; i++ {
					expectForwarded(t, h.request("GET", "/never", "x-breakwater-fault", "1"))
				}
			},
		},
	})
}

// TestBulkheadGaugeFollowsSharedRecord: a slot held by a worker that
// vanished is in the shared record but in no worker's increments; the gauge
// of an unkeyed bulkhead is set from the record within a second. Native only:
// the test writes the vanished worker's lease with the plugin's own clock.
func TestBulkheadGaugeFollowsSharedRecord(t *testing.T) {
	h, ok := startHarness(t, "native", `{"policies": [{"name": "svc", "bulkhead": {"max_concurrent": 2, "lease_ttl": "5s"}}]}`)
	if !ok {
		t.Fatal(h.host.GetCriticalLogs())
	}
	var gets, sets uint64
	st := hostStore{gets: &gets, sets: &sets}
	other := bulkhead.New("breakwater/svc/bh", 10000, bulkhead.Settings{MaxConcurrent: 2, LeaseTTL: 5 * time.Second})
	other.SetHashKey(deploymentHashKey(st, "breakwater")) // the plugin's, read from shared data
	if _, ok, err := other.Acquire(st, "", 42, h.fake.now); !ok || err != nil {
		t.Fatalf("acquire: %v %v", ok, err)
	}
	x := h.request("GET", "/")
	expectForwarded(t, x)
	expectReason(t, h.request("GET", "/"), 503, "bulkhead_full") // the vanished lease counts
	h.advance(1100 * time.Millisecond)
	if g := h.gauge(metricdef.Name("breakwater", metricdef.BulkheadActive, "svc")); g != 2 {
		t.Fatalf("active gauge %d, want 2 (ours + the vanished worker's)", g)
	}
	h.advance(5 * time.Second) // lease_ttl: the vanished lease is reclaimed
	expectForwarded(t, h.request("GET", "/"))
}
