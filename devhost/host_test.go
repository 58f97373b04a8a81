package devhost

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProxyBasics(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, PluginConfig: []byte("name=a"),
		VMConfig: []byte("vmconf"), VMID: "vm1", HostCallsHeader: "x-host-calls", Clock: NewManualClock(time.Unix(1700000000, 5))})
	r := f.do("GET", "/hello?x=1", "", "x-op", "props", "x-envoy-retry-on", "5xx", "X-Envoy-Max-Retries", "3",
		"x-envoy-expected-rq-timeout-ms", "100", "x-envoy-internal", "true", "x-envoy-custom", "kept")
	if r.status != 200 || r.body != "ok" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	got := up.last()
	want := map[string]string{
		"X-Prop-Path":           "/hello?x=1",
		"X-Prop-Method":         "GET",
		"X-Prop-Plugin":         "breakwater",
		"X-Prop-Vmid":           "vm1",
		"X-Prop-Code":           "status1", // no response yet: NotFound
		"X-Prop-Flags":          "0",
		"X-Prop-Time":           strconv.FormatInt(time.Unix(1700000000, 5).UnixNano(), 10),
		"X-Prop-Missing":        "status1",
		"X-Prop-Bare":           "status3", // a whole map: SerializationFailure
		"X-Prop-Hdr":            "props",
		"X-Guest-Root":          "a",
		"X-Guest-N":             "", // checked below
		"X-Envoy-Attempt-Count": "1",
	}
	for k, v := range want {
		if k == "X-Guest-N" {
			continue
		}
		if g := got.header.Get(k); g != v {
			t.Errorf("upstream header %s = %q, want %q", k, g, v)
		}
	}
	if !strings.HasPrefix(got.header.Get("X-Prop-Source"), "127.0.0.1:") {
		t.Errorf("source.address = %q", got.header.Get("X-Prop-Source"))
	}
	if !strings.HasSuffix(got.header.Get("X-Guest-N"), "/1") {
		t.Errorf("end_of_stream for a GET without body: %q", got.header.Get("X-Guest-N"))
	}
	for _, k := range []string{"X-Envoy-Retry-On", "X-Envoy-Max-Retries", "X-Envoy-Internal"} {
		if v := got.header.Get(k); v != "" {
			t.Errorf("client's %s reached the upstream: %q", k, v)
		}
	}
	if v := got.header.Get("X-Envoy-Expected-Rq-Timeout-Ms"); v == "100" || v == "" {
		t.Errorf("client's expected timeout kept, or the router's not set: %q", v)
	}
	if got.header.Get("X-Envoy-Custom") != "kept" {
		t.Error("a header outside Envoy's internal-only list was removed")
	}
	if got.header.Get("X-Request-Id") == "" || got.header.Get("X-Forwarded-Proto") != "http" {
		t.Errorf("x-request-id / x-forwarded-proto not added: %v", got.header)
	}
	// Response path as the plugin saw it.
	wantResp := map[string]string{
		"X-Resp-Status":         "200",
		"X-Resp-Code":           "status1", // response.code not yet set in on_response_headers
		"X-Resp-Details":        "via_upstream",
		"X-Resp-Flags":          "0",
		"X-Resp-Attempts":       "1",
		"X-Reqhdr-Status":       "2", // request headers no longer available: BadArgument
		"X-Envoy-Attempt-Count": "1",
		"X-Upstream":            "yes",
	}
	for k, v := range wantResp {
		if g := r.header.Get(k); g != v {
			t.Errorf("response header %s = %q, want %q", k, g, v)
		}
	}
	if n, err := strconv.Atoi(r.header.Get("X-Host-Calls")); err != nil || n < 20 {
		t.Errorf("x-host-calls = %q", r.header.Get("X-Host-Calls"))
	}
	// on_log: response.code is there, request headers readable again, trailers NotFound.
	e, ok := f.h.findLog("guest: log ctx=")
	if !ok {
		t.Fatal("no on_log line")
	}
	for _, frag := range []string{"code=200", "flags=0", "details=via_upstream", "path=/hello?x=1", "pathst=0", "trailerst=1", "dur=0"} {
		if !strings.Contains(e.Message, frag) {
			t.Errorf("on_log line %q lacks %q", e.Message, frag)
		}
	}
	if _, ok := f.h.findLog("guest: vm start config=vmconf"); !ok {
		t.Error("vm configuration not readable in on_vm_start")
	}
	st := f.h.Stats()
	if st.Requests != 1 || st.UpstreamAttempts != 1 || st.RequestHostCalls == 0 || st.HostCalls <= st.RequestHostCalls {
		t.Errorf("stats %+v", st)
	}
	if st.RequestByFunction["proxy_get_property"] < 11 {
		t.Errorf("proxy_get_property counted %d times", st.RequestByFunction["proxy_get_property"])
	}
}

func TestMiscHostFunctions(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Unix(1234, 5678))
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, Clock: clock,
		VMConfig: []byte("abc"), LogLevel: LogInfo})
	r := f.do("GET", "/", "", "x-op", "misc", "x-drop", "1", "x-remove", "1", "x-keep", "1")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	got := up.last().header
	want := strings.Join([]string{
		"0",      // set_header_map_pairs
		"0",      // remove_header_map_value
		"0/true", // get_header_map_size
		"0/0",    // get_status: no callout failure
		"0/2",    // get_log_level = Options.LogLevel (info)
		"0/" + strconv.FormatInt(time.Unix(1234, 5678).UnixNano(), 10), // current time from the clock
		"0/3", // buffer status of the vm configuration
		"1",   // plugin configuration outside configure: NotFound
		"12",  // grpc_call: Unimplemented
		"2",   // grpc_cancel of an unknown token: BadArgument
		"0",   // proxy_done
		"0",   // clear_route_cache
		"2",   // set_effective_context(unknown)
		"2",   // response headers in the request phase: BadArgument
		"2",   // callout response headers outside the callback: BadArgument
		"1",   // callout response body outside the callback: NotFound
	}, ",")
	if got.Get("X-Misc") != want {
		t.Errorf("x-misc = %s\n  want  %s", got.Get("X-Misc"), want)
	}
	if got.Get("X-Drop") != "" || got.Get("X-Remove") != "" || got.Get("X-Keep") != "1" || got.Get("X-Via-Pairs") != "1" {
		t.Errorf("map edits: %v", got)
	}
	if got.Get("X-Late") != "" || got.Get("X-After-Continue") != "" {
		t.Errorf("request headers writable after continue_request: %v", got)
	}
	f.do("GET", "/", "", "x-op", "foreign")
	if got := up.last().header.Get("X-Foreign"); got != "1" {
		t.Errorf("foreign function: %q", got)
	}
	for _, e := range f.h.Logs() {
		if !e.Host && e.Level < LogInfo {
			t.Errorf("a line below LogLevel was kept: %v", e)
		}
	}
}

func TestInternalClientsKeepRouterHeaders(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			w.WriteHeader(503)
		}
	})
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, InternalClients: true,
		RetryBaseInterval: time.Millisecond})
	r := f.do("GET", "/", "", "x-op", "props", "x-envoy-retry-on", "5xx", "x-envoy-upstream-rq-timeout-ms", "5000")
	if r.status != 200 || up.count() != 2 {
		t.Fatalf("client router headers ignored: %d after %d attempts", r.status, up.count())
	}
	if v := up.last().header.Get("X-Envoy-Internal"); v != "true" {
		t.Errorf("x-envoy-internal = %q", v)
	}
}

func TestConfigureFailureFailsNew(t *testing.T) {
	_, err := New(Options{Wasm: guestWasm, CompilationCache: cache, PluginConfig: []byte("fail=policies[0].name: required")})
	if err == nil {
		t.Fatal("New succeeded with a configuration the plugin rejects")
	}
	if !strings.Contains(err.Error(), "critical: guest: config: policies[0].name: required") ||
		!strings.Contains(err.Error(), "proxy_on_configure returned false") {
		t.Fatalf("error does not carry the plugin's critical line: %v", err)
	}
}

func TestLocalReplyRunsResponseCallbacks(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 2})
	r := f.do("GET", "/", "", "x-op", "local")
	if r.status != 418 || r.body != "teapot" || r.header.Get("X-Guest") != "local" || r.header.Get("Content-Type") != "text/plain" {
		t.Fatalf("local reply: %d %q %v", r.status, r.body, r.header)
	}
	if r.header.Get("X-Resp-Status") != "418" || r.header.Get("X-Resp-Details") != "guest_local" {
		t.Errorf("on_response_headers did not see the local reply: %v", r.header)
	}
	if up.count() != 0 {
		t.Errorf("upstream called %d times for a local reply", up.count())
	}
	// A local reply sent while returning Continue still wins.
	r = f.do("GET", "/", "", "x-op", "local-continue")
	if r.status != 429 || up.count() != 0 {
		t.Errorf("local reply with Continue: %d, upstream %d", r.status, up.count())
	}
	if f.h.Stats().LocalReplies != 2 {
		t.Errorf("LocalReplies = %d", f.h.Stats().LocalReplies)
	}
}

func TestPauseResumedByTick(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Unix(1000, 0))
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, Clock: clock,
		PluginConfig: []byte("tick=100")})
	done := make(chan result, 2)
	go func() { done <- f.do("GET", "/p", "", "x-op", "pause-tick") }()
	go func() { done <- f.do("GET", "/l", "", "x-op", "local-on-tick") }()
	eventually(t, "two paused streams", func() bool { return f.h.pausedStreams() == 2 })
	clock.Advance(99 * time.Millisecond)
	if up.count() != 0 || f.h.Stats().Ticks != 0 {
		t.Fatalf("before the tick: upstream %d, ticks %d", up.count(), f.h.Stats().Ticks)
	}
	clock.Advance(1 * time.Millisecond)
	a, b := <-done, <-done
	if a.status == 429 {
		a, b = b, a
	}
	if a.status != 200 || up.last().header.Get("X-Resumed") != "tick" {
		t.Errorf("paused request: %d, upstream saw x-resumed=%q", a.status, up.last().header.Get("X-Resumed"))
	}
	if b.status != 429 || b.body != "from tick" || b.header.Get("X-Resp-Details") != "tick_local" {
		t.Errorf("local reply from tick: %d %q %v", b.status, b.body, b.header)
	}
	if up.count() != 1 {
		t.Errorf("upstream saw %d requests", up.count())
	}
	// Ticks keep their period: 1 s more is 10 ticks.
	clock.Advance(time.Second)
	if n := f.h.Stats().Ticks; n != 11 {
		t.Errorf("ticks = %d, want 11", n)
	}
	if v, _ := f.h.Metric("guest.ticks_total"); v != 11 {
		t.Errorf("guest.ticks_total = %d", v)
	}
}

func TestPauseResponseResumedByTick(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Unix(1000, 0))
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, Clock: clock,
		PluginConfig: []byte("tick=50")})
	done := make(chan result, 1)
	go func() { done <- f.do("GET", "/", "", "x-op", "pause-resp,resp-upper") }()
	eventually(t, "response paused in on_response_headers", func() bool { return f.h.streamsIn(visRespHeaders) == 1 })
	if up.count() != 1 || f.h.Stats().Ticks != 0 {
		t.Fatalf("upstream %d, ticks %d", up.count(), f.h.Stats().Ticks)
	}
	clock.Advance(50 * time.Millisecond)
	r := <-done
	if r.status != 200 || r.header.Get("X-Resumed") != "tick" || r.body != "OK" {
		t.Errorf("got %d %q %v", r.status, r.body, r.header)
	}
}

func TestClientGoneWhilePaused(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := f.try(ctx, "GET", "/gone", "", "x-op", "pause-forever")
		errc <- err
	}()
	eventually(t, "paused stream", func() bool { return f.h.pausedStreams() == 1 })
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("request succeeded")
	}
	eventually(t, "on_log of the reset stream", func() bool {
		_, ok := f.h.findLog("path=/gone")
		return ok
	})
	e, _ := f.h.findLog("path=/gone")
	if !strings.Contains(e.Message, "flags=16384") || !strings.Contains(e.Message, "details=downstream_remote_disconnect") ||
		!strings.Contains(e.Message, "code=status1") {
		t.Errorf("on_log after client reset: %q", e.Message)
	}
	eventually(t, "stream released", func() bool { return f.h.pausedStreams() == 0 })
	if up.count() != 0 {
		t.Errorf("upstream called")
	}
	if f.h.Stats().Resets != 1 {
		t.Errorf("resets = %d", f.h.Stats().Resets)
	}
}

func TestCloseStreamResets(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	if _, err := f.try(context.Background(), "GET", "/closed", "", "x-op", "close"); err == nil {
		t.Fatal("close_stream did not reset the request")
	}
	e, ok := f.h.findLog("path=/closed")
	if !ok || !strings.Contains(e.Message, "details=wasm_close_stream") {
		t.Errorf("on_log after close_stream: %q", e.Message)
	}
	if up.count() != 0 {
		t.Error("upstream called")
	}
}

func TestBodies(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	r := f.do("POST", "/b", "hello", "x-op", "body-upper,resp-upper")
	if r.status != 200 || r.body != "OK" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	got := up.last()
	if got.body != "HELLO!" || got.header.Get("Content-Length") != "" && got.header.Get("Content-Length") != "6" {
		t.Errorf("upstream body %q (content-length %q)", got.body, got.header.Get("Content-Length"))
	}
	if !strings.HasSuffix(got.header.Get("X-Guest-N"), "/0") {
		t.Errorf("end_of_stream with a body: %q", got.header.Get("X-Guest-N"))
	}
	if r.header.Get("X-Body-Reqhdr-Status") != "2" {
		t.Errorf("request headers visible in on_request_body: %q", r.header.Get("X-Body-Reqhdr-Status"))
	}
}

func TestReplaceResponseWithLocalReply(t *testing.T) {
	up := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, "boom")
	})
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	r := f.do("GET", "/", "", "x-op", "replace-resp")
	if r.status != 503 || r.body != "fallback body" || r.header.Get("X-Fallback") != "1" {
		t.Fatalf("got %d %q %v", r.status, r.body, r.header)
	}
	e, _ := f.h.findLog("guest: log ctx=")
	if !strings.Contains(e.Message, "code=503") || !strings.Contains(e.Message, "details=fallback") {
		t.Errorf("on_log: %q", e.Message)
	}
}
