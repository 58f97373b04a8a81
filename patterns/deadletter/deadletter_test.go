package deadletter

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSettingsDefaults(t *testing.T) {
	s, err := Settings{Cluster: "dlq"}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.On, []string{"upstream_failure"}) || !slices.Equal(s.Methods, []string{"POST", "PUT", "PATCH", "DELETE"}) ||
		s.MaxBodyBytes != 65536 || !slices.Equal(s.RedactHeaders, []string{"authorization", "cookie"}) || s.Timeout != 50*time.Millisecond {
		t.Fatalf("defaults: %+v", s)
	}
	s.On[0] = "x"
	if DefaultOn[0] != UpstreamFailure {
		t.Fatal("Normalize shares the default slice")
	}
	again, err := s.Normalize()
	if err == nil {
		t.Fatalf("changed On accepted: %+v", again)
	}
	s2, _ := Settings{Cluster: "dlq"}.Normalize()
	s3, err := s2.Normalize()
	if err != nil || !slices.Equal(s3.Methods, s2.Methods) || s3.Timeout != s2.Timeout {
		t.Fatalf("not idempotent: %v %+v", err, s3)
	}
}

func TestSettingsExplicit(t *testing.T) {
	s, err := Settings{Cluster: "dlq", On: []string{"circuit_open", "upstream_failure"}, Methods: []string{"post", "Get"},
		MaxBodyBytes: 1, RedactHeaders: []string{}, Timeout: time.Minute}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Records("GET") || !s.Records("post") || s.Records("PUT") || !s.Covers(CircuitOpen) || s.Covers(BulkheadFull) {
		t.Fatalf("%+v", s)
	}
	if s.Redacts("authorization") || len(s.RedactHeaders) != 0 {
		t.Fatal("explicit empty redact_headers must redact nothing")
	}
	s, _ = Settings{Cluster: "dlq", RedactHeaders: []string{"X-Api-Key"}}.Normalize()
	if !s.Redacts("x-api-key") || !s.Redacts("X-API-KEY") || s.Redacts("authorization") {
		t.Fatalf("%+v", s.RedactHeaders)
	}
}

func TestSettingsErrors(t *testing.T) {
	for _, c := range []struct {
		s    Settings
		want string
	}{
		{Settings{}, "cluster: required"},
		{Settings{Cluster: "a\nb"}, "cluster: must not contain"},
		{Settings{Cluster: strings.Repeat("c", 257)}, "cluster: must be at most"},
		{Settings{Cluster: "d", On: []string{}}, "on: must not be empty"},
		{Settings{Cluster: "d", On: []string{"rate_limited"}}, "on[0]: must be one of"},
		{Settings{Cluster: "d", On: []string{"circuit_open", "circuit_open"}}, "on[1]: duplicate"},
		{Settings{Cluster: "d", Methods: []string{}}, "methods: must not be empty"},
		{Settings{Cluster: "d", Methods: []string{"PO ST"}}, "methods[0]: must be an HTTP method"},
		{Settings{Cluster: "d", Methods: []string{"post", "POST"}}, "methods[1]: duplicate"},
		{Settings{Cluster: "d", MaxBodyBytes: -1}, "max_body_bytes: must be in [1,1048576]"},
		{Settings{Cluster: "d", MaxBodyBytes: 1<<20 + 1}, "max_body_bytes"},
		{Settings{Cluster: "d", RedactHeaders: []string{"a b"}}, "redact_headers[0]"},
		{Settings{Cluster: "d", RedactHeaders: []string{"Cookie", "cookie"}}, "redact_headers[1]: duplicate"},
		{Settings{Cluster: "d", Timeout: time.Microsecond}, "timeout: must be in [1ms,1m0s]"},
		{Settings{Cluster: "d", Timeout: -time.Second}, "timeout"},
		{Settings{Cluster: "d", Timeout: 2 * time.Minute}, "timeout"},
	} {
		_, err := c.s.Normalize()
		if err == nil || !strings.HasPrefix(err.Error(), "deadletter: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
}

func sample() Envelope {
	return Envelope{Version: 1, ID: "0123456789abcdef-1-2a", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		Policy: "orders", Reason: UpstreamFailure, Status: 503, Attempts: 2, Method: "POST", Authority: "shop.local:8080",
		Path: "/orders?x=1", Headers: [][2]string{{"content-type", "application/json"}, {"authorization", RedactedValue}},
		Body: []byte(`{"sku":42}` + "\x00\xff")}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := sample()
	b := e.Encode()
	if !bytes.Contains(b, []byte(`"body":"eyJza3UiOjQyfQD/"`)) || !bytes.Contains(b, []byte(`"headers":[["content-type","application/json"],["authorization","[redacted]"]]`)) {
		t.Fatalf("encoding: %s", b)
	}
	d, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(e, d) {
		t.Fatalf("round trip:\n%+v\n%+v", e, d)
	}
	if v, _ := d.Header("authorization"); v != RedactedValue {
		t.Fatal(v)
	}
	e.Body, e.Truncated = nil, true
	d, err = Decode(e.Encode())
	if err != nil || !d.Truncated || len(d.Body) != 0 {
		t.Fatalf("%v %+v", err, d)
	}
}

func equal(a, b Envelope) bool {
	return a.Version == b.Version && a.ID == b.ID && a.Time.Equal(b.Time) && a.Policy == b.Policy && a.Reason == b.Reason &&
		a.Status == b.Status && a.Attempts == b.Attempts && a.Method == b.Method && a.Authority == b.Authority &&
		a.Path == b.Path && slices.Equal(a.Headers, b.Headers) && bytes.Equal(a.Body, b.Body) && a.Truncated == b.Truncated
}

func TestDecodeRejects(t *testing.T) {
	s0 := sample()
	good := string(s0.Encode())
	for _, c := range []struct{ doc, want string }{
		{``, "envelope:"},
		{`[]`, "envelope:"},
		{good + `{}`, "data after"},
		{strings.Replace(good, `"version":1`, `"version":2`, 1), "version: must be 1"},
		{strings.Replace(good, `"truncated":false`, `"truncated":false,"extra":1`, 1), "unknown field"},
		{strings.Replace(good, `"id":"0123456789abcdef-1-2a"`, `"id":"a b"`, 1), "id:"},
		{strings.Replace(good, `"id":"0123456789abcdef-1-2a"`, `"id":""`, 1), "id:"},
		{strings.Replace(good, `"policy":"orders"`, `"policy":"Orders"`, 1), "policy:"},
		{strings.Replace(good, `"reason":"upstream_failure"`, `"reason":"rate_limited"`, 1), "reason:"},
		{strings.Replace(good, `"status":503`, `"status":700`, 1), "status:"},
		{strings.Replace(good, `"attempts":2`, `"attempts":-1`, 1), "attempts:"},
		{strings.Replace(good, `"method":"POST"`, `"method":"P T"`, 1), "method:"},
		{strings.Replace(good, `"path":"/orders?x=1"`, `"path":"orders"`, 1), "path:"},
		{strings.Replace(good, `"authority":"shop.local:8080"`, `"authority":"a/b"`, 1), "authority:"},
		{strings.Replace(good, `["content-type","application/json"]`, `["content-type"]`, 1), "headers[0]: must be a [name, value] pair"},
		{strings.Replace(good, `["content-type","application/json"]`, `["Content-Type","x"]`, 1), "headers[0]: name"},
		{strings.Replace(good, `["content-type","application/json"]`, `["a","x\r\ny"]`, 1), "headers[0]: value"},
		{strings.Replace(good, `"truncated":false`, `"truncated":true`, 1), "body: must be empty when truncated"},
		{strings.Replace(good, `"time":"2026-01-02T03:04:05.000000006Z"`, `"time":"0001-01-01T00:00:00Z"`, 1), "time: required"},
		{strings.Replace(good, `"body":"eyJza3UiOjQyfQD/"`, `"body":"!!"`, 1), "envelope:"},
		{strings.Repeat(" ", MaxEnvelopeBytes+1), "at most"},
	} {
		_, err := Decode([]byte(c.doc))
		if err == nil || !strings.HasPrefix(err.Error(), "deadletter: envelope") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.60q: got %v, want %q", c.doc, err, c.want)
		}
	}
}

func TestIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	// Same random source for every VM (as under a deterministic WASI
	// random): the VM identity alone keeps them apart.
	for vm := uint64(0); vm < 8; vm++ {
		g := NewIDs(rand.NewPCG(1, 2), vm)
		for i := 0; i < 1000; i++ {
			id := g.Next()
			if seen[id] || !validID(id) || len(id) > 50 {
				t.Fatalf("id %q (dup %v)", id, seen[id])
			}
			seen[id] = true
		}
	}
	a, b := NewIDs(rand.NewPCG(1, 2), 1).Next(), NewIDs(rand.NewPCG(3, 4), 1).Next()
	if a == b {
		t.Fatal("different random parts, same id")
	}
}

func TestOutboxBound(t *testing.T) {
	var o Outbox[[]byte]
	for i := 0; i < MaxInFlight; i++ {
		if !o.Add([]byte("x"), 1) {
			t.Fatalf("refused %d", i)
		}
	}
	if o.Add([]byte("x"), 1) {
		t.Fatal("bound not enforced")
	}
	rec, n, ok := o.Next()
	if !ok || string(rec) != "x" || n != 1 || o.Queued() != MaxInFlight-1 || o.InFlight() != MaxInFlight {
		t.Fatal("next")
	}
	if o.Add([]byte("y"), 1) {
		t.Fatal("a taken record still counts until Done")
	}
	o.Done(1)
	if !o.Add([]byte("y"), 1) {
		t.Fatal("Done frees a place")
	}
	for {
		_, n, ok := o.Next()
		if !ok {
			break
		}
		o.Done(n)
	}
	if o.InFlight() != 0 || o.Queued() != 0 || o.bytes != 0 {
		t.Fatalf("%d %d %d", o.InFlight(), o.Queued(), o.bytes)
	}
	small := Outbox[[]byte]{MaxRecords: 10, MaxBytes: 5}
	if !small.Add(nil, 3) || small.Add(nil, 3) || !small.Add(nil, 2) || small.Add(nil, -1) {
		t.Fatal("byte bound")
	}
	// Steady flow through the queue never grows it beyond the bound.
	var f Outbox[[]byte]
	for i := 0; i < 10000; i++ {
		f.Add([]byte("z"), 1)
		if i%3 == 0 {
			if _, n, ok := f.Next(); ok {
				f.Done(n)
			}
		}
		if cap(f.queue) > 4*MaxInFlight {
			t.Fatalf("queue grew to %d", cap(f.queue))
		}
	}
}

func TestLogGate(t *testing.T) {
	var g LogGate
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allow := func(c string, at time.Time) bool { _, ok := g.Allow(c, at); return ok }
	if !allow("timeout", t0) || allow("timeout", t0.Add(59*time.Second)) || allow("timeout", t0.Add(59*time.Second)) || !allow("status", t0) {
		t.Fatal("first minute")
	}
	if n, ok := g.Allow("timeout", t0.Add(time.Minute)); !ok || n != 3 {
		t.Fatalf("after a minute: %d %v", n, ok)
	}
}
