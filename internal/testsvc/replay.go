package testsvc

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// ReplayTarget is an upstream for dead-letter replays: it answers 201 and
// counts, per Idempotency-Key, the requests it answered 2xx, keeping the
// last body and headers of each key; a key in Fail is answered 503 that
// many times first. Safe for concurrent use; read it with the methods.
type ReplayTarget struct {
	URL string

	mu      sync.Mutex
	got     map[string]int
	bodies  map[string]string
	headers map[string]http.Header
	lines   map[string]string
	fail    map[string]int
	failed  int
}

// NewReplayTarget starts one on loopback, closed when the test ends.
func NewReplayTarget(t testing.TB) *ReplayTarget {
	rt := &ReplayTarget{got: map[string]int{}, bodies: map[string]string{}, headers: map[string]http.Header{}, lines: map[string]string{}, fail: map[string]int{}}
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	rt.URL = srv.URL
	return rt
}

// FailNext makes the next n requests with key fail with 503.
func (rt *ReplayTarget) FailNext(key string, n int) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.fail[key] += n
}

func (rt *ReplayTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	k := r.Header.Get("Idempotency-Key")
	if rt.fail[k] > 0 {
		rt.fail[k]--
		rt.failed++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rt.got[k]++
	rt.bodies[k] = string(b)
	rt.headers[k] = r.Header.Clone()
	rt.lines[k] = r.Method + " " + r.URL.RequestURI()
	w.WriteHeader(http.StatusCreated)
}

// Delivered is how many times key was answered 2xx.
func (rt *ReplayTarget) Delivered(key string) int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.got[key]
}

// Keys is the number of distinct keys answered 2xx.
func (rt *ReplayTarget) Keys() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return len(rt.got)
}

// Body is the last body answered 2xx for key.
func (rt *ReplayTarget) Body(key string) string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.bodies[key]
}

// Header is the last request header set answered 2xx for key.
func (rt *ReplayTarget) Header(key string) http.Header {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.headers[key]
}

// Line is "METHOD /path?query" of the last request answered 2xx for key.
func (rt *ReplayTarget) Line(key string) string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.lines[key]
}

// Failed is the number of requests answered 503 by FailNext.
func (rt *ReplayTarget) Failed() int {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.failed
}
