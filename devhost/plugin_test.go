package devhost

import (
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// pluginWasm reads the built plugin: these tests run the real artifact.
func pluginWasm(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../dist/breakwater.wasm")
	if err != nil {
		t.Fatalf("dist/breakwater.wasm: %v (run make build)", err)
	}
	return b
}

const rateLimitConfig = `{"policies":[{"name":"orders","match":{"path_prefix":"/orders"},
 "rate_limit":{"limits":[{"name":"global","algorithm":"fixed_window","requests":5,"per":"1m"}]}}]}`

func TestPluginRateLimitExactAcrossWorkers(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	f := newFixture(t, Options{Wasm: pluginWasm(t), PluginConfig: []byte(rateLimitConfig),
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock})
	if len(f.h.workers) != 4 {
		t.Fatal("want the default 4 workers")
	}
	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				r := f.do("GET", "/orders/1", "")
				switch {
				case r.status == 200:
					ok.Add(1)
				case r.status == 429 && r.header.Get("X-Breakwater-Reason") == "rate_limited" &&
					r.header.Get("X-Breakwater-Policy") == "orders":
					limited.Add(1)
				default:
					t.Errorf("unexpected response %d %v", r.status, r.header)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 5 || limited.Load() != 27 || up.count() != 5 {
		t.Fatalf("admitted %d, limited %d, upstream saw %d; want 5/27/5", ok.Load(), limited.Load(), up.count())
	}
	// Unmatched paths pass untouched.
	if r := f.do("GET", "/other", ""); r.status != 200 || r.header.Get("X-Breakwater-Policy") != "" {
		t.Errorf("unmatched: %d %v", r.status, r.header)
	}
	// The next window (on the test clock) admits 5 again.
	clock.Advance(time.Minute)
	n := 0
	for i := 0; i < 8; i++ {
		if f.do("GET", "/orders/2", "").status == 200 {
			n++
		}
	}
	if n != 5 {
		t.Errorf("next window admitted %d", n)
	}
	// Metrics in Envoy's Prometheus naming, aggregated over the 4 VMs.
	text := get(t, httptestServer(t, f.h.AdminHandler())+"/stats/prometheus")
	// Prometheus' own parser reads it (expfmt, the text format scrapers use).
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("expfmt: %v\n%s", err, text)
	}
	// One family per metric, the policy and reason as labels (the stat
	// names' tag segments extracted with the default StatsTags).
	if mf := mfs["breakwater_requests_total"]; mf == nil || mf.GetType() != dto.MetricType_COUNTER ||
		len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetCounter().GetValue() != 40 ||
		labelsOf(mf.GetMetric()[0]) != `policy="orders"` {
		t.Errorf("expfmt breakwater_requests_total: %v", mf)
	}
	rejected := map[string]float64{}
	for _, m := range mfs["breakwater_rejected_total"].GetMetric() {
		rejected[labelsOf(m)] = m.GetCounter().GetValue()
	}
	// 6 reasons, and escaped_slash (the policy has a path condition).
	if len(rejected) != 7 || rejected[`policy="orders",reason="rate_limited"`] != 30 || rejected[`policy="orders",reason="circuit_open"`] != 0 {
		t.Errorf("breakwater_rejected_total by labels: %v", rejected)
	}
	limitedBy := mfs["breakwater_rate_limit_limited_total"].GetMetric()
	if len(limitedBy) != 1 || labelsOf(limitedBy[0]) != `limit="global",policy="orders"` || limitedBy[0].GetCounter().GetValue() != 30 {
		t.Errorf("breakwater_rate_limit_limited_total: %v", limitedBy)
	}
	fams := parseProm(t, text)
	if v := fams["breakwater_requests_total"]; v == nil || v.typ != "counter" || v.samples[`breakwater_requests_total{policy="orders"}`] != 40 {
		t.Errorf("breakwater_requests_total: %+v", v)
	}
	if v := fams["breakwater_rejected_total"]; v == nil || v.samples[`breakwater_rejected_total{policy="orders",reason="rate_limited"}`] != 30 {
		t.Errorf("rejected_total rate_limited: %+v", v)
	}
	// The raw stat carries the segments Envoy's tag extractors cut out.
	if v, ok := f.h.Metric("breakwater.policy=.=orders;.;reason=.=rate_limited;.;rejected_total"); !ok || v != 30 {
		t.Errorf("raw stat: %d %v", v, ok)
	}
	if f.h.Stats().Traps != 0 {
		t.Error("the plugin trapped")
	}
}

func TestPluginRejectsBadConfig(t *testing.T) {
	_, err := New(Options{Wasm: pluginWasm(t), CompilationCache: cache, Workers: 1,
		PluginConfig: []byte(`{"policies":[{"name":"x","circuit_breaker":{"failure_rate_threshold":1.5}}]}`)})
	if err == nil || !strings.Contains(err.Error(), "breakwater: config: policies[0].circuit_breaker.failure_rate_threshold") {
		t.Fatalf("New with an invalid configuration: %v", err)
	}
}

func TestPluginReconfigureKeepsSharedState(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Date(2030, 1, 1, 0, 0, 30, 0, time.UTC))
	f := newFixture(t, Options{Wasm: pluginWasm(t), PluginConfig: []byte(rateLimitConfig), Workers: 2,
		Clusters: map[string]string{"upstream": up.URL}, Clock: clock})
	for i := 0; i < 3; i++ {
		f.do("GET", "/orders/1", "")
	}
	// Same policy and limit, new document: the window's count is in shared data and survives.
	if err := f.h.Reconfigure([]byte(strings.Replace(rateLimitConfig, `"match"`, `"match" `, 1))); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; i < 5; i++ {
		if f.do("GET", "/orders/1", "").status == 200 {
			n++
		}
	}
	if n != 2 {
		t.Errorf("after reload %d admitted, want the 2 left in the window", n)
	}
	if err := f.h.Reconfigure([]byte(`{"policies":[]}`)); err == nil {
		t.Error("invalid reload accepted")
	}
}

// TestPluginUnderEnvoy133WASI runs load through the real plugin with
// poll_oneoff returning ENOSYS, as in Envoy 1.33-1.38: it must never trap.
func TestPluginUnderEnvoy133WASI(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n%5 == 0 {
			w.WriteHeader(503)
		}
		io.WriteString(w, "x")
	})
	cfg := `{"policies":[{"name":"api","rate_limit":{"limits":[{"name":"u","key":["header:x-user"],"requests":1000,"per":"1s"}]},
 "circuit_breaker":{"minimum_calls":100},"retry":{"max_retries":1,"retry_on":["5xx"]},"timeout":{"request":"2s"}}]}`
	f := newFixture(t, Options{Wasm: pluginWasm(t), PluginConfig: []byte(cfg), Envoy133WASI: true,
		Clusters: map[string]string{"upstream": up.URL}, RetryBaseInterval: time.Millisecond})
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 150; j++ {
				user := string(rune('a' + (i*150+j)%26))
				if r := f.do("GET", "/api", "", "x-user", user); r.status != 200 && r.status != 503 && r.status != 429 {
					t.Errorf("status %d", r.status)
				}
			}
		}(i)
	}
	wg.Wait()
	st := f.h.Stats()
	if st.Traps != 0 || st.Requests != 1200 {
		t.Fatalf("traps %d (poll_oneoff calls %d), requests %d", st.Traps, st.PollOneoff, st.Requests)
	}
	t.Logf("1200 requests under Envoy 1.33 WASI: %d poll_oneoff calls, %.1f host calls/request, memory pages %v",
		st.PollOneoff, st.HostCallsPerRequest(), f.h.MemoryPages())
}

// labelsOf formats a sample's labels sorted by name as name="value" pairs
// joined by commas.
func labelsOf(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+`="`+l.GetValue()+`"`)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
