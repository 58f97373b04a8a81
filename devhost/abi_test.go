package devhost

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/breakwater/breakwater/internal/envoyabi"
)

func TestHTTPCallouts(t *testing.T) {
	svc := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done() // answers only after the caller gave up: no race with its timeout
			return
		}
		w.Header().Set("x-svc", "1")
		io.WriteString(w, "pong")
	})
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL, "svc": svc.URL, "dead": closedURL(t)}, Workers: 2})

	r := f.do("GET", "/", "", "x-op", "callout")
	got := up.last().header
	if r.status != 200 || got.Get("X-Callout-Status") != "200" || got.Get("X-Callout-Body") != "pong" {
		t.Fatalf("callout: %d %v", r.status, got)
	}
	// :status, content-length, content-type, date, x-svc: 5 headers, the pairs agree.
	if nh := got.Get("X-Callout-Nh"); nh != "5/5" {
		t.Errorf("headers count/pairs = %q", nh)
	}
	call := svc.last()
	if call.host != "svc.local" || call.path != "/callout" || call.method != "GET" || call.header.Get("X-From") != "guest" {
		t.Errorf("callout request: %+v", call)
	}
	if call.header.Get("X-Envoy-Expected-Rq-Timeout-Ms") != "1000" {
		t.Errorf("callout expected timeout header %q", call.header.Get("X-Envoy-Expected-Rq-Timeout-Ms"))
	}

	// Timeout: Envoy's async client answers 504 from its router.
	r = f.do("GET", "/", "", "x-op", "callout", "x-callout-path", "/slow", "x-callout-timeout", "30")
	got = up.last().header
	if got.Get("X-Callout-Status") != "504" || got.Get("X-Callout-Body") != "upstream request timeout" {
		t.Errorf("timed-out callout: %v", got)
	}

	// Bad dispatches: unknown cluster, missing :path.
	r = f.do("GET", "/", "", "x-op", "callout-bad")
	got = up.last().header
	if got.Get("X-Callout-Dispatch") != "2" || got.Get("X-Callout-Noauth") != "2" {
		t.Errorf("bad dispatch statuses: %v", got)
	}
	if st := f.h.Stats(); st.Callouts != 2 {
		t.Errorf("callouts dispatched = %d, want 2", st.Callouts)
	}
}

func TestHTTPCalloutConnectFailure(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL, "svc": closedURL(t)}, Workers: 1})
	f.do("GET", "/", "", "x-op", "callout")
	got := up.last().header
	if got.Get("X-Callout-Status") != "503" ||
		got.Get("X-Callout-Body") != "upstream connect error or disconnect/reset before headers. reset reason: connection failure" {
		t.Errorf("connect failure: %v", got)
	}
}

func TestSharedDataCASAcrossVMs(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 4})
	const n = 160
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < n/8; j++ {
				f.do("GET", "/", "", "x-op", "shared")
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, r := range up.all() {
		v := r.header.Get("X-Ctr")
		if seen[v] {
			t.Fatalf("counter value %s handed out twice: CAS broken", v)
		}
		seen[v] = true
	}
	v, cas, ok := f.h.SharedData("ctr")
	if !ok || string(v) != strconv.Itoa(n) || cas == 0 || len(seen) != n {
		t.Fatalf("ctr = %q (cas %d, ok %v), %d distinct values", v, cas, ok, len(seen))
	}
}

func TestSharedDataSemantics(t *testing.T) {
	s := newSharedData()
	if _, _, st := s.get("", []byte("k")); st != StatusNotFound {
		t.Fatalf("absent get: %d", st)
	}
	if st := s.set("", []byte("k"), []byte("v1"), 12345); st != StatusOK {
		t.Fatalf("set of an absent key with a cas: %d", st)
	}
	v, c1, st := s.get("", []byte("k"))
	if st != StatusOK || string(v) != "v1" || c1 == 0 {
		t.Fatalf("get: %q %d %d", v, c1, st)
	}
	if st := s.set("", []byte("k"), []byte("x"), c1+1); st != StatusCasMismatch {
		t.Fatalf("stale cas: %d", st)
	}
	if st := s.set("", []byte("k"), []byte("v2"), c1); st != StatusOK {
		t.Fatalf("matching cas: %d", st)
	}
	_, c2, _ := s.get("", []byte("k"))
	if c2 == c1 || c2 == 0 {
		t.Fatalf("cas not renewed: %d -> %d", c1, c2)
	}
	if st := s.set("", []byte("k"), []byte("v3"), 0); st != StatusOK {
		t.Fatalf("cas 0 always writes: %d", st)
	}
	if _, _, st := s.get("other-vm", []byte("k")); st != StatusNotFound {
		t.Fatal("vm_ids share data")
	}
	// The counter skips 0.
	s.cas = ^uint32(0)
	s.set("", []byte("a"), nil, 0)
	s.set("", []byte("b"), nil, 0)
	_, ca, _ := s.get("", []byte("a"))
	_, cb, _ := s.get("", []byte("b"))
	if ca != ^uint32(0) || cb != 1 {
		t.Fatalf("wrap: %d %d", ca, cb)
	}
	if keys, bytes := s.stats(); keys != 3 || bytes != len("kv3")+len("a")+len("b") {
		t.Fatalf("stats %d %d", keys, bytes)
	}
}

func TestSharedQueueNotifiesLastRegistrant(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 4})
	// Each VM registered "q" in on_configure, in worker order: worker 3 was last.
	for i := 0; i < 4; i++ {
		payload := "p" + strconv.Itoa(i)
		f.do("GET", "/", "", "x-op", "enqueue", "x-payload", payload)
		if got := up.last().header; got.Get("X-Enqueue") != "0:0" || got.Get("X-Resolve-Missing") != "1" {
			t.Fatalf("enqueue statuses: %v", got)
		}
		eventually(t, "queue ready "+payload, func() bool {
			_, ok := f.h.findLog("guest: queue ready " + payload)
			return ok
		})
		e, _ := f.h.findLog("guest: queue ready " + payload)
		if e.Worker != 3 {
			t.Errorf("on_queue_ready for %s ran on worker %d, want 3", payload, e.Worker)
		}
	}
	if st := f.h.Stats(); st.QueueReady != 4 {
		t.Errorf("queue ready calls = %d", st.QueueReady)
	}
}

func TestSharedQueues(t *testing.T) {
	q := newSharedQueues()
	a, b := &instance{}, &instance{}
	id := q.register("", "q", a, 1)
	if id2 := q.register("", "q", b, 7); id2 != id {
		t.Fatalf("re-register changed the token: %d %d", id, id2)
	}
	if other := q.register("vm2", "q", a, 1); other == id {
		t.Fatal("vm_ids share queues")
	}
	if got, ok := q.resolve("", "q"); !ok || got != id {
		t.Fatal("resolve")
	}
	if _, ok := q.resolve("", "nope"); ok {
		t.Fatal("resolve of an absent queue")
	}
	owner, root, st := q.enqueue(id, []byte("x"))
	if st != StatusOK || owner != b || root != 7 {
		t.Fatalf("enqueue notifies %p/%d (%d), want the last registrant", owner, root, st)
	}
	q.enqueue(id, []byte("y"))
	for _, want := range []string{"x", "y"} {
		if v, st := q.dequeue(id); st != StatusOK || string(v) != want {
			t.Fatalf("dequeue %q %d, want %q", v, st, want)
		}
	}
	if _, st := q.dequeue(id); st != StatusEmpty {
		t.Fatalf("empty dequeue: %d", st)
	}
	if _, _, st := q.enqueue(999, nil); st != StatusNotFound {
		t.Fatal("enqueue to an unknown token")
	}
	if _, st := q.dequeue(999); st != StatusNotFound {
		t.Fatal("dequeue of an unknown token")
	}
}

func TestMetricsAggregatedAcrossVMs(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 4})
	for i := 0; i < 8; i++ {
		g := "5"
		if i == 7 {
			g = "-2"
		}
		r := f.do("GET", "/", "", "x-op", "metric", "x-gauge", g)
		if r.status != 200 {
			t.Fatal(r.status)
		}
		got := up.last().header
		if got.Get("X-Inc0") != "2" || got.Get("X-Inc-Hist") != "2" || got.Get("X-Get-Hist") != "2" || got.Get("X-Get-Unknown") != "1" {
			t.Errorf("metric statuses: inc0 %s inc-hist %s get-hist %s get-unknown %s", got.Get("X-Inc0"),
				got.Get("X-Inc-Hist"), got.Get("X-Get-Hist"), got.Get("X-Get-Unknown"))
		}
		// The counter is one stat for all VMs: a VM reads the global value.
		if got.Get("X-Metric") != "0:"+strconv.Itoa(i+1) {
			t.Errorf("request %d read counter %q", i, got.Get("X-Metric"))
		}
	}
	if v, _ := f.h.Metric("guest.requests_total"); v != 8 {
		t.Errorf("requests_total = %d", v)
	}
	if v, _ := f.h.Metric("guest.gauge"); v != 7*5-2 {
		t.Errorf("gauge = %d", v)
	}
	// Prometheus exposition.
	srv := httptestServer(t, f.h.AdminHandler())
	body := get(t, srv+"/stats/prometheus")
	fams := parseProm(t, body)
	if fams["guest_requests_total"].typ != "counter" || fams["guest_requests_total"].samples["guest_requests_total{}"] != 8 {
		t.Errorf("counter family: %+v", fams["guest_requests_total"])
	}
	if fams["guest_gauge"].typ != "gauge" || fams["guest_gauge"].samples["guest_gauge{}"] != 33 {
		t.Errorf("gauge family: %+v", fams["guest_gauge"])
	}
	h := fams["guest_latency_ms"]
	if h.typ != "histogram" || h.samples[`guest_latency_ms_bucket{le="5"}`] != 0 ||
		h.samples[`guest_latency_ms_bucket{le="10"}`] != 8 || h.samples[`guest_latency_ms_bucket{le="+Inf"}`] != 8 ||
		h.samples["guest_latency_ms_count{}"] != 8 || h.samples["guest_latency_ms_sum{}"] != 56 {
		t.Errorf("histogram family: %+v", h)
	}
	if strings.Contains(body, "envoy_") || strings.Contains(body, "wasmcustom") {
		t.Errorf("custom stats must not carry envoy_ or wasmcustom in Prometheus:\n%s", body)
	}
	text := get(t, srv+"/stats")
	for _, want := range []string{"wasmcustom.guest.requests_total: 8\n", "wasmcustom.guest.gauge: 33\n",
		"wasmcustom.guest.latency_ms: P0(10,10)", "devhost.requests: 8\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("/stats lacks %q:\n%s", want, text)
		}
	}
	if got := get(t, srv+"/ready"); got != "LIVE\n" {
		t.Errorf("/ready = %q", got)
	}
}

func TestPrometheusName(t *testing.T) {
	for in, want := range map[string]string{
		"breakwater.orders.requests_total":        "breakwater_orders_requests_total",
		"breakwater.orders.rate_limit.per-user.x": "breakwater_orders_rate_limit_per_user_x",
		"a:b": "a_b",
		"_x":  "_x",
	} {
		if got, ok := PrometheusName(in); !ok || got != want {
			t.Errorf("PrometheusName(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "9lives"} {
		if _, ok := PrometheusName(in); ok {
			t.Errorf("PrometheusName(%q) accepted", in)
		}
	}
}

type promFamily struct {
	typ     string
	samples map[string]float64
}

// parseProm is a strict little parser of the text exposition format subset
// Envoy writes: "# TYPE name type" then samples "name{labels} value" of that
// family; every sample must belong to the family declared last.
func parseProm(t *testing.T, body string) map[string]*promFamily {
	t.Helper()
	fams := map[string]*promFamily{}
	var cur string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "# TYPE ") {
			parts := strings.Fields(line)
			if len(parts) != 4 {
				t.Fatalf("bad TYPE line %q", line)
			}
			if fams[parts[2]] != nil {
				t.Fatalf("family %s declared twice", parts[2])
			}
			cur = parts[2]
			fams[cur] = &promFamily{typ: parts[3], samples: map[string]float64{}}
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		name, val := line[:sp], line[sp+1:]
		metric := name
		if i := strings.IndexByte(name, '{'); i >= 0 {
			metric = name[:i]
			if !strings.HasSuffix(name, "}") {
				t.Fatalf("bad labels in %q", line)
			}
		} else {
			t.Fatalf("sample without label braces (Envoy writes {}): %q", line)
		}
		if cur == "" || !(metric == cur || metric == cur+"_bucket" || metric == cur+"_sum" || metric == cur+"_count") {
			t.Fatalf("sample %q outside its family %q", line, cur)
		}
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		fams[cur].samples[name] = v
	}
	// Histogram buckets must be cumulative.
	for n, f := range fams {
		if f.typ != "histogram" {
			continue
		}
		var les []float64
		for k := range f.samples {
			if strings.HasPrefix(k, n+`_bucket{le="`) && !strings.Contains(k, "+Inf") {
				le, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(k, n+`_bucket{le="`), `"}`), 64)
				les = append(les, le)
			}
		}
		sort.Float64s(les)
		prev := -1.0
		for _, le := range les {
			v := f.samples[fmt.Sprintf(`%s_bucket{le="%s"}`, n, formatFloat(le))]
			if v < prev {
				t.Fatalf("histogram %s not cumulative at le=%v", n, le)
			}
			prev = v
		}
	}
	return fams
}

func TestHeaderPairs(t *testing.T) {
	kv := []pair{{":path", "/a"}, {"x-multi", "1"}, {"x-multi", "2"}, {"empty", ""}}
	b := encodePairs(kv)
	// count, 4 size pairs, then NUL-terminated data
	if len(b) != 4+4*8+len(":path/ax-multi1x-multi2empty")+8 {
		t.Fatalf("encoded size %d", len(b))
	}
	got, err := decodePairs(b)
	if err != nil || fmt.Sprint(got) != fmt.Sprint(kv) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if got, err := decodePairs(nil); err != nil || len(got) != 0 {
		t.Fatal("empty pairs")
	}
	for _, bad := range [][]byte{{1}, {1, 0, 0, 0}, {1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0}, {255, 255, 255, 255}} {
		if _, err := decodePairs(bad); err == nil {
			t.Errorf("decodePairs(%v) accepted", bad)
		}
	}
	m := &headerMap{kv: append([]pair(nil), kv...)}
	m.replace("X-Multi", "3")
	if v, _ := m.get("x-multi"); v != "3" || len(m.kv) != 3 {
		t.Errorf("replace: %v", m.kv)
	}
	m.add("New", "v")
	if v, ok := m.getBytes([]byte("NEW")); !ok || v != "v" {
		t.Error("case-insensitive get")
	}
	m.remove("x-multi")
	if _, ok := m.get("x-multi"); ok || m.byteSize() != len(":path/aemptynewv") {
		t.Errorf("remove: %v", m.kv)
	}
}

func httptestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	s := newUpstream(t, nil)
	s.Config.Handler = h
	return s.URL
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestHostFunctionsCoverEnvoy checks the env functions against the list
// proxy-wasm-cpp-host (Envoy 1.33) exports to ABI 0.2.x modules, and that
// every env import of the real plugin is provided.
func TestHostFunctionsCoverEnvoy(t *testing.T) {
	envoy := envoyabi.EnvFunctions
	have := map[string]bool{}
	for _, n := range HostFunctions() {
		if have[n] {
			t.Errorf("%s defined twice", n)
		}
		have[n] = true
	}
	for _, n := range envoy {
		if !have[n] {
			t.Errorf("missing host function %s", n)
		}
	}
	if len(have) != len(envoy) {
		t.Errorf("%d host functions, Envoy has %d", len(have), len(envoy))
	}
	f := newFixture(t, Options{Wasm: pluginWasm(t), Workers: 1, PluginConfig: []byte(rateLimitConfig)})
	for _, im := range f.h.Imports() {
		if im.Module == "env" && !have[im.Name] {
			t.Errorf("plugin imports env.%s, not provided", im.Name)
		}
	}
}
