package filter

import (
	"testing"
)

// staleConfig: a breaker that one failure opens, and a stale fallback with
// the given extra fields of fallback.stale (e.g. `, "key": [...]`).
func staleConfig(extra string) string {
	return `{"policies": [{"name": "svc",
		"circuit_breaker": {"consecutive_failures": 1, "open_duration": "5m"},
		"fallback": {"on": ["circuit_open"], "body": "static", "stale": {"max_age": "1m", "max_body_bytes": 64` + extra + `}}}]}`
}

// fetch sends one GET with the given request headers (":authority"
// svc.local unless given) and answers 200 with resp headers and body.
func (h *harness) fetch(path string, req []string, resp []string, body string) {
	auth := "svc.local"
	var hs [][2]string
	for i := 0; i+1 < len(req); i += 2 {
		if req[i] == ":authority" {
			auth = req[i+1]
			continue
		}
		hs = append(hs, [2]string{req[i], req[i+1]})
	}
	hs = append([][2]string{{":method", "GET"}, {":path", path}, {":authority", auth}}, hs...)
	id := h.host.InitializeHttpContext()
	h.host.CallOnRequestHeaders(id, hs, true)
	rh := [][2]string{{":status", "200"}}
	for i := 0; i+1 < len(resp); i += 2 {
		rh = append(rh, [2]string{resp[i], resp[i+1]})
	}
	h.host.CallOnResponseHeaders(id, rh, false)
	h.host.CallOnResponseBody(id, []byte(body), true)
	h.host.CompleteHttpContext(id)
}

// fallback sends a GET while the breaker is open and returns the local
// response's body and whether it was a stale copy.
func (h *harness) fallback(path string, req ...string) (*exchange, string, bool) {
	auth := "svc.local"
	var hs [][2]string
	for i := 0; i+1 < len(req); i += 2 {
		if req[i] == ":authority" {
			auth = req[i+1]
			continue
		}
		hs = append(hs, [2]string{req[i], req[i+1]})
	}
	hs = append([][2]string{{":method", "GET"}, {":path", path}, {":authority", auth}}, hs...)
	id := h.host.InitializeHttpContext()
	a := h.host.CallOnRequestHeaders(id, hs, true)
	x := &exchange{h: h, id: id, action: a}
	l := x.local()
	if l == nil {
		h.t.Fatalf("%s: not rejected (breaker not open?)", path)
	}
	return x, string(l.Data), get(l.Headers, "x-breakwater-stale") == "true"
}

// openBreaker opens the policy's breaker (one failure on "/").
func (h *harness) openBreaker(t *testing.T) { call(t, h, "500") }

func TestScenariosStalePrivacy(t *testing.T) {
	type noStore struct {
		name      string
		req, resp []string
	}
	cases := []noStore{
		{"cache-control private", nil, []string{"cache-control", "max-age=60, private"}},
		{"cache-control no-store", nil, []string{"Cache-Control", "No-Store"}},
		{"cache-control no-cache", nil, []string{"cache-control", `no-cache="set-cookie"`}},
		{"pragma no-cache", nil, []string{"pragma", "no-cache"}},
		{"set-cookie", nil, []string{"set-cookie", "sid=1"}},
		{"vary *", nil, []string{"vary", "*"}},
		{"vary not in the key", nil, []string{"vary", "Accept-Encoding"}},
		{"request with authorization", []string{"authorization", "Bearer alice"}, nil},
		{"request with cookie", []string{"cookie", "sid=alice"}, nil},
	}
	var scs []scenario
	for _, c := range cases {
		scs = append(scs, scenario{
			name:   "not kept: " + c.name,
			config: staleConfig(""),
			run: func(t *testing.T, h *harness) {
				h.fetch("/orders/me", c.req, c.resp, "private data")
				h.openBreaker(t)
				if _, body, stale := h.fallback("/orders/me", c.req...); stale || body != "static" {
					t.Fatalf("served %q (stale %v), want the static fallback", body, stale)
				}
			},
		})
	}
	scs = append(scs,
		scenario{
			name:   "kept: a public response, served with its representation headers",
			config: staleConfig(""),
			run: func(t *testing.T, h *harness) {
				gz := "\x1f\x8b\x08\x00gzip-bytes"
				h.fetch("/catalog", nil, []string{"content-type", "application/json", "content-encoding", "gzip",
					"etag", `"v1"`, "cache-control", "public, max-age=60", "x-other", "dropped"}, gz)
				h.openBreaker(t)
				x, body, stale := h.fallback("/catalog")
				if !stale || body != gz {
					t.Fatalf("served %q (stale %v)", body, stale)
				}
				if x.localHeader("content-encoding") != "gzip" || x.localHeader("content-type") != "application/json" ||
					x.localHeader("etag") != `"v1"` || x.localHeader("x-other") != "" {
					t.Fatalf("headers %+v", x.local().Headers)
				}
			},
		},
		scenario{
			name:   "the key holds :authority: tenant A's copy is never served to tenant B",
			config: staleConfig(""),
			run: func(t *testing.T, h *harness) {
				h.fetch("/report", []string{":authority", "a.example.com"}, nil, "tenant A")
				h.openBreaker(t)
				if _, body, stale := h.fallback("/report", ":authority", "b.example.com"); stale || body != "static" {
					t.Fatalf("tenant B got %q (stale %v)", body, stale)
				}
				if _, body, stale := h.fallback("/report", ":authority", "a.example.com"); !stale || body != "tenant A" {
					t.Fatalf("tenant A got %q (stale %v)", body, stale)
				}
			},
		},
		scenario{
			name:   "stale.key header:authorization: each user gets their own copy only",
			config: staleConfig(`, "key": ["header:authorization"]`),
			run: func(t *testing.T, h *harness) {
				h.fetch("/orders/me", []string{"authorization", "Bearer alice"}, []string{"vary", "Authorization"}, "alice's orders")
				h.openBreaker(t)
				if _, body, stale := h.fallback("/orders/me", "authorization", "Bearer bob"); stale || body != "static" {
					t.Fatalf("bob got %q (stale %v)", body, stale)
				}
				if _, body, stale := h.fallback("/orders/me"); stale || body != "static" {
					t.Fatalf("anonymous got %q (stale %v)", body, stale)
				}
				if _, body, stale := h.fallback("/orders/me", "authorization", "Bearer alice"); !stale || body != "alice's orders" {
					t.Fatalf("alice got %q (stale %v)", body, stale)
				}
				// a cookie is still not in the key: not kept
				h.fetch("/prefs", []string{"authorization", "Bearer alice", "cookie", "sid=1"}, nil, "prefs")
				if _, body, stale := h.fallback("/prefs", "authorization", "Bearer alice", "cookie", "sid=1"); stale || body != "static" {
					t.Fatalf("a request with an unkeyed cookie was kept: %q", body)
				}
			},
		},
		scenario{
			name:   "vary naming a header of the key: kept per value",
			config: staleConfig(`, "key": ["header:accept-encoding"]`),
			run: func(t *testing.T, h *harness) {
				h.fetch("/page", []string{"accept-encoding", "gzip"}, []string{"vary", "accept-encoding", "content-encoding", "gzip"}, "\x1f\x8bzipped")
				h.openBreaker(t)
				if _, body, stale := h.fallback("/page", "accept-encoding", "identity"); stale || body != "static" {
					t.Fatalf("identity client got %q (stale %v)", body, stale)
				}
				x, body, stale := h.fallback("/page", "accept-encoding", "gzip")
				if !stale || body != "\x1f\x8bzipped" || x.localHeader("content-encoding") != "gzip" || x.localHeader("vary") != "accept-encoding" {
					t.Fatalf("gzip client got %q (stale %v) %+v", body, stale, x.local().Headers)
				}
			},
		},
	)
	runScenarios(t, scs)
}
