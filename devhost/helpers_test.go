package devhost

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/breakwater/breakwater/internal/testsvc"
)

// guestWasm is the test guest (testdata/guest) built once by TestMain.
var guestWasm []byte

// cache compiles each module once for the whole test binary.
var cache = wazero.NewCompilationCache()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "devhost-guest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := filepath.Join(dir, "guest.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/guest")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test guest: %v\n%s", err, b)
		os.Exit(1)
	}
	guestWasm, err = os.ReadFile(out)
	os.RemoveAll(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fixture is a host with its front server.
type fixture struct {
	t     testing.TB
	h     *Host
	front *httptest.Server
}

func newFixture(t testing.TB, o Options) *fixture {
	t.Helper()
	if o.Wasm == nil {
		o.Wasm = guestWasm
	}
	if o.CompilationCache == nil {
		o.CompilationCache = cache
	}
	h, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f := &fixture{t: t, h: h, front: httptest.NewServer(h)}
	t.Cleanup(func() {
		f.front.Close()
		h.Close()
	})
	return f
}

type result struct {
	status int
	header http.Header
	body   string
}

// do sends one request with the given headers (name, value, ...).
func (f *fixture) do(method, path, body string, kv ...string) result {
	f.t.Helper()
	r, err := f.try(context.Background(), method, path, body, kv...)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (f *fixture) try(ctx context.Context, method, path, body string, kv ...string) (result, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.front.URL+path, rd)
	if err != nil {
		return result{}, err
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{}, err
	}
	return result{resp.StatusCode, resp.Header, string(b)}, nil
}

// upstream is a recording test server.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*recorded
	handler  func(n int, w http.ResponseWriter, r *http.Request) // n: 1-based request number
}

type recorded struct {
	method, path, host string
	header             http.Header
	body               string
}

func newUpstream(t testing.TB, handler func(n int, w http.ResponseWriter, r *http.Request)) *upstream {
	u := &upstream{handler: handler}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, &recorded{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone(), string(b)})
		n := len(u.requests)
		u.mu.Unlock()
		if u.handler != nil {
			u.handler(n, w, r)
			return
		}
		w.Header().Set("x-upstream", "yes")
		io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.requests)
}

func (u *upstream) last() *recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.requests) == 0 {
		return nil
	}
	return u.requests[len(u.requests)-1]
}

func (u *upstream) all() []*recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*recorded(nil), u.requests...)
}

// closedURL is an http URL nothing listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// paused counts the streams currently held by the plugin (in any VM).
func (h *Host) pausedStreams() int {
	n := 0
	for _, w := range h.workers {
		w.mu.Lock()
		if w.inst != nil {
			n += len(w.inst.streams)
		}
		w.mu.Unlock()
	}
	return n
}

// streamsIn counts the streams whose plugin-visible phase includes vis
// (e.g. paused in on_response_headers).
func (h *Host) streamsIn(vis int) int {
	n := 0
	for _, w := range h.workers {
		w.mu.Lock()
		if w.inst != nil {
			for _, s := range w.inst.streams {
				if s.vis&vis != 0 {
					n++
				}
			}
		}
		w.mu.Unlock()
	}
	return n
}

// eventually waits up to 10 s for cond (a bound, not a timing assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsvc.Eventually(t, what, 10*time.Second, cond)
}

// findLog returns the first plugin log line containing s.
func (h *Host) findLog(s string) (LogEntry, bool) {
	for _, e := range h.Logs() {
		if strings.Contains(e.Message, s) {
			return e, true
		}
	}
	return LogEntry{}, false
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
