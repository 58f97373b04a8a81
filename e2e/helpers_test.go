package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
	"github.com/tetratelabs/wazero"
)

// cache compiles each module once for the whole test binary.
var cache = wazero.NewCompilationCache()

// workers is the number of worker VMs of every host in these tests.
const workers = 4

var wasmMu sync.Mutex
var wasmFiles = map[string][]byte{}

// distWasm reads dist/NAME, the artifact `make build` writes.
func distWasm(t testing.TB, name string) []byte {
	t.Helper()
	wasmMu.Lock()
	defer wasmMu.Unlock()
	if b, ok := wasmFiles[name]; ok {
		return b
	}
	b, err := os.ReadFile(filepath.Join(testsvc.RepoRoot(), "dist", name))
	if err != nil {
		t.Fatalf("dist/%s: %v: run make build", name, err)
	}
	wasmFiles[name] = b
	return b
}

// pluginWasm is the built filter.
func pluginWasm(t testing.TB) []byte { return distWasm(t, "breakwater.wasm") }

// env is a dev host running the filter with a front server for real
// clients.
type env struct {
	t      testing.TB
	h      *devhost.Host
	front  *httptest.Server
	client *http.Client
}

// newEnv starts a host with 4 workers. Zero Wasm: dist/breakwater.wasm.
func newEnv(t testing.TB, o devhost.Options) *env {
	t.Helper()
	if o.Wasm == nil {
		o.Wasm = pluginWasm(t)
	}
	if o.Workers == 0 {
		o.Workers = workers
	}
	o.CompilationCache = cache
	h, err := devhost.New(o)
	if err != nil {
		t.Fatalf("devhost.New: %v", err)
	}
	e := &env{t: t, h: h, front: httptest.NewServer(h),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}}
	t.Cleanup(func() {
		if t.Failed() {
			logs := h.Logs()
			if len(logs) > 40 {
				logs = logs[len(logs)-40:]
			}
			for _, l := range logs {
				t.Logf("log: %s", l)
			}
		}
		e.client.CloseIdleConnections()
		e.front.Close()
		h.Close()
	})
	return e
}

// result is one response seen by a client.
type result struct {
	status  int
	header  http.Header
	body    string
	elapsed time.Duration
	err     error
}

func (r result) reason() string { return r.header.Get("X-Breakwater-Reason") }

func (r result) String() string {
	if r.err != nil {
		return "error " + r.err.Error()
	}
	return fmt.Sprintf("%d reason=%q policy=%q body=%q", r.status, r.reason(), r.header.Get("X-Breakwater-Policy"), r.body)
}

// do sends one request through the front server (a real client socket)
// with headers given as name, value pairs.
func (e *env) do(method, path string, kv ...string) result {
	req, err := http.NewRequestWithContext(context.Background(), method, e.front.URL+path, nil)
	if err != nil {
		return result{err: err}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	t0 := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return result{err: err, elapsed: time.Since(t0)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), elapsed: time.Since(t0), err: err}
}

// serve runs one request through Host.ServeHTTP directly (no client socket).
func serve(h http.Handler, method, path string, kv ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// parallel runs f(0..n-1) in n goroutines and waits for them.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer wg.Done()
			f(i)
		}(i)
	}
	wg.Wait()
}

// metric reads a plugin counter or gauge (0 when never defined).
func metric(h *devhost.Host, name string) uint64 {
	v, _ := h.Metric(name)
	return v
}

// transitions is the number of state transitions of policy's breaker
// (default namespace), summed over the states entered.
func transitions(h *devhost.Host, policy string) uint64 {
	var n uint64
	for _, to := range []string{"closed", "open", "half_open"} {
		n += metric(h, metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, policy, metricdef.LabelTo, to))
	}
	return n
}

// checkNoTraps fails the test if a VM trapped.
func checkNoTraps(t testing.TB, h *devhost.Host) {
	t.Helper()
	if st := h.Stats(); st.Traps != 0 || st.VMReplacements != 0 {
		t.Errorf("VM traps %d, replacements %d", st.Traps, st.VMReplacements)
	}
}

// upstream is a real HTTP server that counts the requests (attempts) it
// receives and the concurrency it observes, and behaves as told.
type upstream struct {
	*httptest.Server
	hits     atomic.Int64
	inflight atomic.Int64
	maxIn    atomic.Int64
	behave   atomic.Pointer[func(n int64, w http.ResponseWriter, r *http.Request)]
}

// ok is the healthy behaviour: 200 "ok".
func ok(_ int64, w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

// failing answers status to every request.
func failing(status int) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }
}

// slow waits d (or until the router gives up on the request), then answers 200.
func slow(d time.Duration) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			io.WriteString(w, "slow ok")
		case <-r.Context().Done():
		}
	}
}

func newUpstream(t testing.TB, f func(n int64, w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{}
	u.set(f)
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	n := u.hits.Add(1)
	in := u.inflight.Add(1)
	defer u.inflight.Add(-1)
	for {
		m := u.maxIn.Load()
		if in <= m || u.maxIn.CompareAndSwap(m, in) {
			break
		}
	}
	(*u.behave.Load())(n, w, r)
}

// set changes the behaviour for the next requests.
func (u *upstream) set(f func(n int64, w http.ResponseWriter, r *http.Request)) { u.behave.Store(&f) }

// count is the number of requests (attempts) received so far.
func (u *upstream) count() int64 { return u.hits.Load() }

// headerInt parses an integer response header (-1 when absent or bad).
func headerInt(h http.Header, name string) int {
	v := h.Get(name)
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return -1
	}
	return n
}

// tally counts results by "status reason".
func tally(rs []result) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		if r.err != nil {
			m["error"]++
			continue
		}
		m[strconv.Itoa(r.status)+" "+r.reason()]++
	}
	return m
}

// gate is an upstream behaviour that holds every request until open is
// called (or the router gives up on it), announcing each on arrived. With
// it a test knows that a request holds its bulkhead slot, whatever the
// machine's speed.
type gate struct {
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newGate() *gate { return &gate{arrived: make(chan struct{}, 1024), release: make(chan struct{})} }

func (g *gate) hold(_ int64, w http.ResponseWriter, r *http.Request) {
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
		io.WriteString(w, "ok")
	case <-r.Context().Done():
	}
}

// open lets every held request, and those to come, through.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// queueBehind sends slots requests for path through h and waits until the
// upstream, held by g, has them all; then sends waiters more, one at a
// time, each once policy's bulkhead_queued gauge counts the one before it
// (a request cannot leave the queue while the slots are held, so the wait
// ends whatever the machine's speed; the go test timeout bounds it). It
// returns the gauge with all of them queued, then opens the gate and
// returns every status, in the order sent. The bulkhead's max_wait and the
// route timeout must be long enough not to end the wait (an hour).
func queueBehind(t *testing.T, h *devhost.Host, policy, path string, g *gate, slots, waiters int) (queued uint64, codes []int) {
	t.Helper()
	name := metricdef.Name("breakwater", metricdef.BulkheadQueued, policy)
	codes = make([]int, slots+waiters)
	done := make(chan int, len(codes))
	sent := 0
	send := func() {
		i := sent
		sent++
		go func() {
			codes[i] = serve(h, "GET", path, "x-user-id", "queue-"+strconv.Itoa(i)).Code
			done <- i
		}()
	}
	fail := func(i int) {
		g.open()
		for n := 1; n < sent; n++ {
			<-done
		}
		t.Fatalf("queue step: request %d was answered (%d) while the upstream held the slots; statuses %v", i, codes[i], codes)
	}
	for i := 0; i < slots; i++ {
		send()
	}
	for got := 0; got < slots; {
		select {
		case <-g.arrived:
			got++
		case i := <-done:
			fail(i)
		}
	}
	for k := 1; k <= waiters; k++ {
		send()
		for metric(h, name) < uint64(k) {
			select {
			case i := <-done:
				fail(i)
			case <-time.After(time.Millisecond):
			}
		}
	}
	queued = metric(h, name)
	g.open()
	for range codes {
		<-done
	}
	return queued, codes
}
