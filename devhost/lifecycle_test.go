package devhost

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTrapReplacesVM(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 2})
	before := f.h.MemoryPages()
	r := f.do("GET", "/", "", "x-op", "trap")
	if r.status != 503 {
		t.Fatalf("trapping request: %d", r.status)
	}
	st := f.h.Stats()
	if st.Traps != 1 || st.VMReplacements != 1 {
		t.Fatalf("traps %d, replacements %d", st.Traps, st.VMReplacements)
	}
	var report LogEntry
	for _, e := range f.h.Logs() {
		if e.Host && e.Level == LogError && strings.Contains(e.Message, "trapped") {
			report = e
		}
	}
	if !strings.Contains(report.Message, "proxy_on_request_headers") || !strings.Contains(report.Message, "guest: trap requested") {
		t.Errorf("trap report: %q", report.Message)
	}
	// The replacement VM is configured and serves; so does the other.
	for i := 0; i < 4; i++ {
		if r := f.do("GET", "/", "", "x-op", "shared"); r.status != 200 {
			t.Fatalf("after the trap: %d", r.status)
		}
	}
	if v, _, _ := f.h.SharedData("ctr"); string(v) != "4" {
		t.Errorf("shared data after replacement: %q", v)
	}
	after := f.h.MemoryPages()
	for i := range after {
		if after[i] == 0 || before[i] == 0 {
			t.Errorf("memory pages before %v after %v", before, after)
		}
	}
	if n := strings.Count(logText(f.h), "guest: configured root=1"); n != 3 {
		t.Errorf("configured %d times, want 2 VMs + 1 replacement", n)
	}
}

func TestTrapWakesPausedStreams(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	done := make(chan result, 1)
	go func() { done <- f.do("GET", "/", "", "x-op", "pause-forever") }()
	eventually(t, "paused", func() bool { return f.h.pausedStreams() == 1 })
	if r := f.do("GET", "/", "", "x-op", "trap"); r.status != 503 {
		t.Fatalf("trap: %d", r.status)
	}
	r := <-done
	if r.status != 503 {
		t.Errorf("paused stream of the dead VM: %d", r.status)
	}
	if up.count() != 0 {
		t.Error("upstream reached")
	}
}

func logText(h *Host) string {
	var sb strings.Builder
	for _, e := range h.Logs() {
		sb.WriteString(e.Message + "\n")
	}
	return sb.String()
}

func TestReconfigure(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Unix(0, 0))
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 2, Clock: clock,
		PluginConfig: []byte("name=a;tick=100")})
	f.do("GET", "/", "", "x-op", "shared")
	if up.last().header.Get("X-Guest-Root") != "a" {
		t.Fatal("root a")
	}
	// A request paused on the old root finishes on it.
	done := make(chan result, 1)
	go func() { done <- f.do("GET", "/", "", "x-op", "pause-tick") }()
	eventually(t, "paused", func() bool { return f.h.pausedStreams() == 1 })

	if err := f.h.Reconfigure([]byte("name=b")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		f.do("GET", "/", "", "x-op", "shared")
		if up.last().header.Get("X-Guest-Root") != "b" {
			t.Fatalf("after reconfigure: root %q", up.last().header.Get("X-Guest-Root"))
		}
	}
	if v, _, _ := f.h.SharedData("ctr"); string(v) != "3" {
		t.Errorf("shared data lost: %q", v)
	}
	// Exactly one VM still holds the old root (its stream is paused); the other deleted it.
	if n := strings.Count(logText(f.h), "guest: root deleted 1"); n != 1 {
		t.Errorf("old root deleted on %d VMs, want 1", n)
	}
	clock.Advance(100 * time.Millisecond) // the old root's tick resumes it
	if r := <-done; r.status != 200 || up.last().header.Get("X-Guest-Root") != "a" {
		t.Errorf("paused request: %d root %q", r.status, up.last().header.Get("X-Guest-Root"))
	}
	eventually(t, "old roots deleted", func() bool { return strings.Count(logText(f.h), "guest: root deleted 1") == 2 })
	if !strings.Contains(logText(f.h), "guest: root done 1") {
		t.Error("no on_done for the old root")
	}
	// A rejected configuration leaves the running one in place.
	err := f.h.Reconfigure([]byte("fail=nope"))
	if err == nil || !strings.Contains(err.Error(), "guest: config: nope") {
		t.Fatalf("rejected reconfigure: %v", err)
	}
	f.do("GET", "/", "", "x-op", "shared")
	if up.last().header.Get("X-Guest-Root") != "b" {
		t.Errorf("after a rejected reconfigure: root %q", up.last().header.Get("X-Guest-Root"))
	}
	// A configuration that traps the VM: rejected, VM replaced with the old one.
	err = f.h.Reconfigure([]byte("trap=1"))
	if err == nil {
		t.Fatal("trapping reconfigure accepted")
	}
	for i := 0; i < 2; i++ {
		r := f.do("GET", "/", "", "x-op", "shared")
		if r.status != 200 || up.last().header.Get("X-Guest-Root") != "b" {
			t.Errorf("after a trapping reconfigure: %d root %q", r.status, up.last().header.Get("X-Guest-Root"))
		}
	}
	if st := f.h.Stats(); st.Traps != 1 || st.VMReplacements != 1 {
		t.Errorf("traps %d replacements %d", st.Traps, st.VMReplacements)
	}
}

func TestWASIClockFollowsManualClock(t *testing.T) {
	up := newUpstream(t, nil)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := NewManualClock(start)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, Clock: clock})
	f.do("GET", "/", "", "x-op", "now")
	if got := up.last().header.Get("X-Now"); got != strconv.FormatInt(start.UnixNano(), 10) {
		t.Errorf("guest time.Now() = %s, want %d", got, start.UnixNano())
	}
	clock.Advance(90 * time.Second)
	f.do("GET", "/", "", "x-op", "now")
	if got := up.last().header.Get("X-Now"); got != strconv.FormatInt(start.Add(90*time.Second).UnixNano(), 10) {
		t.Errorf("after Advance: %s", got)
	}
	// A guest sleep moves the manual clock forward instead of blocking.
	r := f.do("GET", "/", "", "x-op", "sleep")
	if r.status != 200 || up.last().header.Get("X-Slept") != "1" {
		t.Fatalf("sleep: %d", r.status)
	}
	if now := clock.Now(); now.Before(start.Add(90*time.Second + time.Millisecond)) {
		t.Errorf("clock after a 1ms guest sleep: %v", now.Sub(start))
	}
}

func TestEnvoy133WASI(t *testing.T) {
	up := newUpstream(t, nil)
	f := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1, Envoy133WASI: true})
	imports := strings.Join(f.h.WASIImports(), ",")
	for _, want := range []string{"poll_oneoff", "clock_time_get", "fd_write", "random_get", "proc_exit"} {
		if !strings.Contains(imports, want) {
			t.Errorf("WASI imports %s lack %s", imports, want)
		}
	}
	envs := 0
	for _, im := range f.h.Imports() {
		if im.Module == "env" {
			envs++
		}
	}
	if envs < 20 {
		t.Errorf("env imports: %d", envs)
	}
	// Ordinary requests never reach poll_oneoff.
	if r := f.do("GET", "/", "", "x-op", "shared"); r.status != 200 {
		t.Fatal(r.status)
	}
	if f.h.Stats().PollOneoff != 0 || f.h.Stats().Traps != 0 {
		t.Fatalf("poll_oneoff %d traps %d", f.h.Stats().PollOneoff, f.h.Stats().Traps)
	}
	// A sleeping guest dies the way it does in Envoy 1.33-1.38.
	r := f.do("GET", "/", "", "x-op", "sleep")
	st := f.h.Stats()
	if r.status != 503 || st.PollOneoff == 0 || st.Traps != 1 || st.VMReplacements != 1 {
		t.Fatalf("sleep under Envoy133WASI: %d, poll_oneoff %d, traps %d", r.status, st.PollOneoff, st.Traps)
	}
	if !strings.Contains(logText(f.h), "poll_oneoff failed") {
		t.Errorf("trap report lacks the runtime's poll_oneoff error:\n%s", logText(f.h))
	}
	// Without the switch the same request works.
	g := newFixture(t, Options{Clusters: map[string]string{"upstream": up.URL}, Workers: 1})
	if r := g.do("GET", "/", "", "x-op", "sleep"); r.status != 200 || g.h.Stats().PollOneoff != 0 {
		t.Errorf("sleep with wazero's WASI: %d", r.status)
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(time.Unix(100, 0))
	var mu sync.Mutex
	var fired []string
	rec := func(s string) func() {
		return func() {
			mu.Lock()
			fired = append(fired, s+"@"+strconv.FormatInt(c.Now().Unix(), 10))
			mu.Unlock()
		}
	}
	c.AfterFunc(3*time.Second, rec("c"))
	c.AfterFunc(1*time.Second, rec("a"))
	stopped := c.AfterFunc(2*time.Second, rec("x"))
	c.AfterFunc(1*time.Second, func() {
		rec("b")()
		c.AfterFunc(time.Second, rec("chained")) // due at 102, within the same Advance
	})
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop")
	}
	c.Advance(500 * time.Millisecond)
	if len(fired) != 0 || c.Now() != time.Unix(100, 5e8) {
		t.Fatalf("early: %v %v", fired, c.Now())
	}
	c.Advance(2500 * time.Millisecond)
	want := "a@101 b@101 chained@102 c@103"
	if got := strings.Join(fired, " "); got != want {
		t.Fatalf("fired %q, want %q", got, want)
	}
	if c.Pending() != 0 || c.Now() != time.Unix(103, 0) {
		t.Fatalf("pending %d now %v", c.Pending(), c.Now())
	}
	done := make(chan struct{})
	c.AfterFunc(time.Second, func() { close(done) })
	c.Sleep(2 * time.Second)
	<-done
	if c.Now() != time.Unix(105, 0) {
		t.Fatal(c.Now())
	}
}

func TestOptionsDefaults(t *testing.T) {
	o, err := Options{Wasm: []byte{1}, Clusters: map[string]string{"only": "http://127.0.0.1:1"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.Workers != 4 || o.UpstreamCluster != "only" || o.RouteTimeout != 15*time.Second ||
		o.RetryBaseInterval != 25*time.Millisecond || o.RetryMaxInterval != 250*time.Millisecond ||
		o.MaxConcurrentRetries != 3 || o.PluginName != "breakwater" || o.MaxBodyBytes != 4<<20 {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []Options{
		{},
		{Wasm: []byte{1}, Workers: -1},
		{Wasm: []byte{1}, Clusters: map[string]string{"x": "127.0.0.1:80"}},
		{Wasm: []byte{1}, RetryBaseInterval: time.Second, RetryMaxInterval: time.Millisecond},
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	if _, err := New(Options{Wasm: []byte("not wasm")}); err == nil {
		t.Error("New accepted garbage")
	}
}

func TestCloseStopsEverything(t *testing.T) {
	up := newUpstream(t, nil)
	clock := NewManualClock(time.Unix(0, 0))
	h, err := New(Options{Wasm: guestWasm, CompilationCache: cache, Clusters: map[string]string{"upstream": up.URL},
		Workers: 2, Clock: clock, PluginConfig: []byte("tick=10")})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	h.Close()
	clock.Advance(time.Second)
	if h.Stats().Ticks != 0 {
		t.Errorf("ticks after Close: %d", h.Stats().Ticks)
	}
	if p := h.MemoryPages(); p[0] != 0 || p[1] != 0 {
		t.Errorf("memory after Close: %v", p)
	}
}
