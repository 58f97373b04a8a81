package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
)

// serveHost is serve with a Host (the request's :authority).
func serveHost(h http.Handler, host, method, path string, kv ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.Host = host
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestFloodKeepsVictimState (issue 10, "crafted keys evict live state"):
// 4 VMs, keyed policies with max_keys 8, 10,000 distinct keys from 8
// goroutines against each, after a victim's state became live:
//   - the victim's open breaker stays open: its requests are rejected
//     (circuit_open) and the failing backend sees none of them;
//   - the victim's exhausted limit (5 per hour) stays exhausted;
//   - the victim's bulkhead keeps its cap: with its 2 permits held, its
//     third request is bulkhead_full and the upstream never holds more
//     than 2 of the victim's;
//   - a reload keeps the hash key in shared data, and the victim's state
//     with it.
func TestFloodKeepsVictimState(t *testing.T) {
	const floodN = 10000
	var victimHits, victimIn, victimMax atomic.Int64
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	up := newUpstream(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		victim := r.Header.Get("x-user") == "victim" || r.Header.Get("x-tenant") == "victim"
		if victim {
			victimHits.Add(1)
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/cb") && victim:
			w.WriteHeader(http.StatusInternalServerError)
		case strings.HasPrefix(r.URL.Path, "/bh") && victim:
			n := victimIn.Add(1)
			defer victimIn.Add(-1)
			for {
				m := victimMax.Load()
				if n <= m || victimMax.CompareAndSwap(m, n) {
					break
				}
			}
			entered <- struct{}{}
			<-release
			io.WriteString(w, "ok")
		default:
			io.WriteString(w, "ok")
		}
	})
	cfg := `{"policies":[
 {"name":"cb","match":{"path_prefix":"/cb"},"circuit_breaker":{"key":["header:x-user"],"max_keys":8,"consecutive_failures":1,"open_duration":"1h"}},
 {"name":"rl","match":{"path_prefix":"/rl"},"rate_limit":{"limits":[{"name":"user","key":["header:x-user"],"max_keys":8,"requests":5,"per":"1h"}]}},
 {"name":"bh","match":{"path_prefix":"/bh"},"bulkhead":{"key":["header:x-tenant"],"max_keys":8,"max_concurrent":2}}]}`
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clusters: map[string]string{"upstream": up.URL}})
	flood := func(path, header string) (fwd int64) {
		var n atomic.Int64
		parallel(8, func(g int) {
			for i := g; i < floodN; i += 8 {
				if rec := serve(e.h, "GET", path, header, "flood-"+strconv.Itoa(i)); rec.Code == http.StatusOK {
					n.Add(1)
				}
			}
		})
		return n.Load()
	}

	// Breaker.
	if rec := serve(e.h, "GET", "/cb", "x-user", "victim"); rec.Code != 500 {
		t.Fatalf("victim's first call: %d", rec.Code)
	}
	fwd := flood("/cb", "x-user")
	before := victimHits.Load()
	for i := 0; i < 8; i++ {
		if rec := serve(e.h, "GET", "/cb", "x-user", "victim"); rec.Code != 503 || rec.Header().Get("X-Breakwater-Reason") != "circuit_open" {
			t.Fatalf("victim's breaker after %d distinct keys: %d %q, want 503 circuit_open", floodN, rec.Code, rec.Header().Get("X-Breakwater-Reason"))
		}
	}
	if victimHits.Load() != before {
		t.Errorf("the failing backend got %d more victim requests", victimHits.Load()-before)
	}
	t.Logf("breaker: victim open after %d distinct keys (%d of them forwarded)", floodN, fwd)

	// Rate limit.
	for i := 0; i < 5; i++ {
		if rec := serve(e.h, "GET", "/rl", "x-user", "victim"); rec.Code != 200 {
			t.Fatalf("victim's request %d: %d", i, rec.Code)
		}
	}
	fwd = flood("/rl", "x-user")
	for i := 0; i < 8; i++ {
		if rec := serve(e.h, "GET", "/rl", "x-user", "victim"); rec.Code != 429 {
			t.Fatalf("victim's exhausted limit after %d distinct keys: %d, want 429", floodN, rec.Code)
		}
	}
	if fwd > 7+5 {
		t.Errorf("the flood got %d through, want at most 7 entries + the overflow's 5", fwd)
	}
	t.Logf("rate limit: victim exhausted after %d distinct keys (%d of them admitted)", floodN, fwd)

	// Bulkhead.
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = serve(e.h, "GET", "/bh", "x-tenant", "victim").Code
		}()
	}
	<-entered
	<-entered // both held upstream
	fwd = flood("/bh", "x-tenant")
	for i := 0; i < 8; i++ {
		if rec := serve(e.h, "GET", "/bh", "x-tenant", "victim"); rec.Code != 503 || rec.Header().Get("X-Breakwater-Reason") != "bulkhead_full" {
			t.Fatalf("victim's bulkhead after %d distinct keys: %d %q, want 503 bulkhead_full", floodN, rec.Code, rec.Header().Get("X-Breakwater-Reason"))
		}
	}
	close(release)
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 || victimMax.Load() != 2 {
		t.Errorf("victim's held requests %v, upstream held at most %d of the victim's, want 2", codes, victimMax.Load())
	}
	t.Logf("bulkhead: victim capped at 2 after %d distinct keys (%d of them forwarded)", floodN, fwd)

	// A reload keeps the deployment's hash key, so the victim's state is
	// still found: its breaker open, its limit exhausted.
	secret, _, ok := e.h.SharedData("breakwater/hash_key")
	if !ok || len(secret) != 16 {
		t.Fatalf("hash key in shared data: %x %v", secret, ok)
	}
	if err := e.h.Reconfigure([]byte(cfg)); err != nil {
		t.Fatal(err)
	}
	if again, _, _ := e.h.SharedData("breakwater/hash_key"); string(again) != string(secret) {
		t.Fatalf("the reload drew a new hash key")
	}
	if rec := serve(e.h, "GET", "/cb", "x-user", "victim"); rec.Code != 503 {
		t.Errorf("victim's breaker after the reload: %d, want 503", rec.Code)
	}
	if rec := serve(e.h, "GET", "/rl", "x-user", "victim"); rec.Code != 429 {
		t.Errorf("victim's limit after the reload: %d, want 429", rec.Code)
	}
	checkNoTraps(t, e.h)
}

// TestStaleNoCrossUserOrTenant (issue 10, "stale cache leaks private
// data"): two users on two tenants (authorities) fetch /orders/me (private
// to each: Vary: Authorization) and /catalog (public, per tenant) through 4
// VMs; the backend then fails and the breaker opens. Every stale copy
// served is the requester's own: same user, same tenant; a request without
// credentials, or another user's, never gets one.
func TestStaleNoCrossUserOrTenant(t *testing.T) {
	var failing atomic.Bool
	up := newUpstream(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/orders/me" {
			w.Header().Set("Vary", "Authorization")
			io.WriteString(w, "orders of "+r.Header.Get("Authorization")+" at "+r.Host)
			return
		}
		io.WriteString(w, "catalog of "+r.Host)
	})
	cfg := `{"policies":[{"name":"shop","circuit_breaker":{"consecutive_failures":1,"open_duration":"1h"},
 "fallback":{"on":["circuit_open"],"status":503,"body":"degraded","stale":{"max_age":"1h","key":["header:authorization"]}}}]}`
	// The cache is direct-mapped (64 slots, keyed hash): two of the six
	// cache keys below share a slot for about one random secret in five, and
	// the later write then replaces the earlier copy (availability, never
	// privacy). A fixed random_get makes the secret, and so the slots, the
	// same on every run; with every byte 1 the six keys land in six slots
	// (with zeros two of them share one, and the test fails every time).
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clusters: map[string]string{"upstream": up.URL}, Rand: constRand(1)})
	users := []string{"Bearer alice", "Bearer bob"}
	tenants := []string{"a.example.com", "b.example.com"}
	// Each fetch lands on some VM; repeat so every VM has seen each one.
	for round := 0; round < 8; round++ {
		for _, ten := range tenants {
			for _, u := range users {
				if rec := serveHost(e.h, ten, "GET", "/orders/me", "authorization", u); rec.Code != 200 {
					t.Fatalf("fetch: %d", rec.Code)
				}
			}
			if rec := serveHost(e.h, ten, "GET", "/catalog"); rec.Code != 200 {
				t.Fatalf("fetch catalog: %d", rec.Code)
			}
		}
	}
	failing.Store(true)
	serveHost(e.h, tenants[0], "GET", "/fail") // opens the breaker
	served := 0
	for round := 0; round < 8; round++ {
		for _, ten := range tenants {
			for _, u := range append(users, "Bearer mallory", "") {
				kv := []string{}
				if u != "" {
					kv = []string{"authorization", u}
				}
				rec := serveHost(e.h, ten, "GET", "/orders/me", kv...)
				body, stale := rec.Body.String(), rec.Header().Get("X-Breakwater-Stale") == "true"
				own := u == users[0] || u == users[1]
				switch {
				case own && (!stale || body != "orders of "+u+" at "+ten):
					t.Fatalf("%s at %s got %d %q (stale %v), want its own copy", u, ten, rec.Code, body, stale)
				case !own && (stale || body != "degraded"):
					t.Fatalf("%q at %s got %d %q (stale %v): another user's copy", u, ten, rec.Code, body, stale)
				}
				if stale {
					served++
				}
			}
			rec := serveHost(e.h, ten, "GET", "/catalog")
			if rec.Body.String() != "catalog of "+ten || rec.Header().Get("Content-Type") != "text/plain" {
				t.Fatalf("catalog at %s: %q %v", ten, rec.Body.String(), rec.Header())
			}
		}
	}
	t.Logf("%d stale copies served, each to its own user and tenant", served)
	checkNoTraps(t, e.h)
}

// TestSharedBytesWithinBound (issue 10, "shared-data bytes are bounded
// only by key count"): 200,000 distinct keys (each key value 60 bytes, so
// table ids take their longest, 64 bytes) and 200,000 distinct paths hit a
// policy with a keyed sliding-window limit, keyed breaker, keyed bulkhead
// (max_keys 1000 each) and a stale cache through 4 VMs; the bytes the dev
// host's shared data holds stay within the bound `breakwater validate`
// computes (config.SharedBytes), each table within its own.
func TestSharedBytesWithinBound(t *testing.T) {
	const n = 200_000
	up := newUpstream(t, func(k int64, w http.ResponseWriter, _ *http.Request) {
		if k%7 == 0 {
			w.WriteHeader(http.StatusInternalServerError) // breaker records with failures
			return
		}
		io.WriteString(w, "ok")
	})
	cfg := `{"policies":[{"name":"flood",
 "rate_limit":{"limits":[{"name":"user","key":["header:x-user"],"algorithm":"sliding_window","requests":1000,"per":"1s","max_keys":1000}]},
 "circuit_breaker":{"key":["header:x-user"],"max_keys":1000,"minimum_calls":1000},
 "bulkhead":{"key":["header:x-user"],"max_keys":1000,"max_concurrent":4},
 "fallback":{"on":["circuit_open"],"stale":{"max_age":"1h","max_body_bytes":64}}}]}`
	c, err := config.Load([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clusters: map[string]string{"upstream": up.URL}})
	parallel(8, func(g int) {
		for i := g; i < n; i += 8 {
			user := fmt.Sprintf("%060d", i)
			serve(e.h, "GET", "/item/"+strconv.Itoa(i), "x-user", user)
		}
	})
	keys, bytes := e.h.SharedDataSize()
	bound := c.SharedBytes()
	t.Logf("%d distinct keys: shared data %d keys, %d bytes written; bound %d bytes (%.1f%%)", n, keys, bytes, bound, 100*float64(bytes)/float64(bound))
	if int64(bytes) > bound {
		t.Errorf("shared data %d bytes, over the computed bound %d", bytes, bound)
	}
	for _, u := range c.SharedUses() {
		var prefix string
		sets := 0
		switch u.Path {
		case "policies[0].rate_limit.limits[0]":
			prefix, sets = "breakwater/flood/rl/user/", 250
		case "policies[0].circuit_breaker":
			prefix, sets = "breakwater/flood/cb/", 250
		case "policies[0].bulkhead":
			prefix, sets = "breakwater/flood/bh/", 250
		default:
			continue
		}
		got, full := 0, 0
		for i := 0; i < sets; i++ {
			k := prefix + strconv.Itoa(i)
			if v, _, ok := e.h.SharedData(k); ok {
				got += len(k) + len(v)
				if len(v) > 0 {
					full++
				}
			}
		}
		if v, _, ok := e.h.SharedData(prefix + "overflow"); ok {
			got += len(prefix+"overflow") + len(v)
		}
		t.Logf("%s: %d bytes written in %d sets and the overflow, bound %d (%.1f%%)", u.Path, got, full, u.Bytes, 100*float64(got)/float64(u.Bytes))
		if int64(got) > u.Bytes || full != sets {
			t.Errorf("%s: %d bytes in %d of %d sets, bound %d", u.Path, got, full, sets, u.Bytes)
		}
	}
	checkNoTraps(t, e.h)
}

// constRand is a WASI random_get that fills every read with one byte value,
// the same for every VM whatever the order of their reads (constRand(0), all
// zeros, is the worst case for identities drawn from randomness alone).
type constRand byte

func (c constRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}
