package dlq

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/testsvc"
	"github.com/breakwater/breakwater/patterns/deadletter"
)

func envelope(id, policy, method string, truncated bool) []byte {
	e := deadletter.Envelope{Version: 1, ID: id, Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Policy: policy,
		Reason: deadletter.UpstreamFailure, Status: 503, Attempts: 2, Method: method, Authority: "shop.local",
		Path: "/orders?n=" + id, Headers: [][2]string{{"content-type", "application/json"}, {"authorization", deadletter.RedactedValue},
			{"x-tenant", "t1"}, {"content-length", "11"}},
		Body: []byte(`{"id":"` + id + `"}`), Truncated: truncated}
	if truncated {
		e.Body = nil
	}
	return e.Encode()
}

func open(t *testing.T, maxLen int64) *Stream {
	t.Helper()
	s, err := Open(context.Background(), "redis://"+testsvc.Redis(t)+"/0", DefaultStream, maxLen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func post(t *testing.T, url string, body []byte) int {
	t.Helper()
	resp, err := http.Post(url+"/records", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func states(t *testing.T, s *Stream) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := s.List(context.Background(), Filter{}, 0, func(r Record) { out[r.Envelope.ID] = r.State }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSinkReplayPurge(t *testing.T) {
	ctx := context.Background()
	s := open(t, 0)
	sink := httptest.NewServer(s.Handler())
	defer sink.Close()

	for _, id := range []string{"a1", "a2", "a3"} {
		if c := post(t, sink.URL, envelope(id, "orders", "POST", false)); c != 201 {
			t.Fatalf("post %s: %d", id, c)
		}
	}
	if c := post(t, sink.URL, envelope("b1", "billing", "PUT", false)); c != 201 {
		t.Fatal(c)
	}
	if c := post(t, sink.URL, envelope("t1", "orders", "POST", true)); c != 201 {
		t.Fatal(c)
	}
	for _, bad := range [][]byte{[]byte(`{}`), []byte(`not json`), bytes.Replace(envelope("x", "orders", "POST", false), []byte(`"version":1`), []byte(`"version":9`), 1)} {
		if c := post(t, sink.URL, bad); c != 400 {
			t.Fatalf("bad envelope %q: %d, want 400", bad, c)
		}
	}
	if n := s.R.XLen(ctx, s.Name).Val(); n != 5 {
		t.Fatalf("stream length %d, want 5 (bad envelopes are not stored)", n)
	}
	if st := states(t, s); st["a1"] != "new" || len(st) != 5 {
		t.Fatalf("states %v", st)
	}
	var listed []string
	s.List(ctx, Filter{Policy: "billing"}, 0, func(r Record) { listed = append(listed, r.Envelope.ID) })
	if strings.Join(listed, ",") != "b1" {
		t.Fatalf("policy filter: %v", listed)
	}
	n := 0
	s.List(ctx, Filter{Since: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)}, 0, func(Record) { n++ })
	if n != 5 {
		t.Fatalf("time filter: %d", n)
	}
	s.List(ctx, Filter{Since: time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)}, 0, func(Record) { n++ })
	if n != 5 {
		t.Fatalf("since filter: %d", n-5)
	}

	up := testsvc.NewReplayTarget(t)
	to := up.URL
	up.FailNext("a2", 1)
	var progress bytes.Buffer
	res, err := s.Replay(ctx, ReplayOptions{To: to, Policy: "orders", Progress: &progress, ProgressEvery: 1, MinIdle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// a1, a3 delivered; a2 failed (pending); b1 other policy and t1
	// truncated skipped (pending, not sent).
	if res.Attempted != 3 || res.Delivered != 2 || res.Failed != 1 || res.Skipped != 2 {
		t.Fatalf("%v", res)
	}
	if !strings.Contains(progress.String(), "replay: 1 attempted") || !strings.Contains(progress.String(), "2 delivered") {
		t.Fatalf("progress %q", progress.String())
	}
	st := states(t, s)
	if st["a1"] != "acked" || st["a3"] != "acked" || st["a2"] != "pending" || st["b1"] != "pending" || st["t1"] != "pending" {
		t.Fatalf("states %v", st)
	}
	// The replayed request: method, path, body, headers without the
	// redacted one, and the record id as idempotency key.
	if h := up.Header("a1"); up.Body("a1") != `{"id":"a1"}` || h.Get("Authorization") != "" || h.Get("X-Tenant") != "t1" ||
		up.Line("a1") != "POST /orders?n=a1" {
		t.Fatalf("replayed %v body %q", h, up.Body("a1"))
	}

	// A failure is not retried before it has been idle MinIdle...
	res, _ = s.Replay(ctx, ReplayOptions{To: to, MinIdle: time.Hour})
	if res.Attempted != 0 {
		t.Fatalf("pending retried before min idle: %v", res)
	}
	// ... and is once it has (MinIdle 0: at once); the other policy's
	// record goes too this time.
	res, err = s.Replay(ctx, ReplayOptions{To: to, MinIdle: 0})
	if err != nil || res.Attempted != 2 || res.Delivered != 2 || res.Retried != 2 || res.Skipped != 1 {
		t.Fatalf("%v %v", res, err)
	}
	for _, id := range []string{"a1", "a2", "a3", "b1"} {
		if up.Delivered(id) != 1 {
			t.Fatalf("record %s delivered %d times, want exactly once", id, up.Delivered(id))
		}
	}
	n, err = s.Purge(ctx)
	if err != nil || n != 4 {
		t.Fatalf("purge %d %v", n, err)
	}
	if st := states(t, s); len(st) != 1 || st["t1"] != "pending" {
		t.Fatalf("after purge %v", st)
	}
	// The truncated record goes when asked for.
	res, _ = s.Replay(ctx, ReplayOptions{To: to, Truncated: true})
	if res.Delivered != 1 || up.Delivered("t1") != 1 {
		t.Fatalf("%v", res)
	}
}

// TestReplayKeepsClientKey: a request that carried its own Idempotency-Key
// is replayed with it (the upstream may have seen that key already); one
// without is replayed with its record id.
func TestReplayKeepsClientKey(t *testing.T) {
	ctx := context.Background()
	s := open(t, 0)
	e := deadletter.Envelope{Version: 1, ID: "rec1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Policy: "orders",
		Reason: "upstream_failure", Status: 503, Method: "POST", Path: "/orders",
		Headers: [][2]string{{"idempotency-key", "client-key-7"}}, Body: []byte("{}")}
	if _, err := s.Add(ctx, e.Encode()); err != nil {
		t.Fatal(err)
	}
	e.ID, e.Headers = "rec2", nil
	if _, err := s.Add(ctx, e.Encode()); err != nil {
		t.Fatal(err)
	}
	up := testsvc.NewReplayTarget(t)
	if res, err := s.Replay(ctx, ReplayOptions{To: up.URL}); err != nil || res.Delivered != 2 {
		t.Fatalf("%v %v", res, err)
	}
	if up.Delivered("client-key-7") != 1 || up.Delivered("rec2") != 1 || up.Keys() != 2 {
		t.Fatal("keys")
	}
}

func TestReplayCount(t *testing.T) {
	ctx := context.Background()
	s := open(t, 0)
	for i := 0; i < 250; i++ {
		if _, err := s.Add(ctx, envelope(fmt.Sprint("r", i), "orders", "POST", false)); err != nil {
			t.Fatal(err)
		}
	}
	up := testsvc.NewReplayTarget(t)
	to := up.URL
	total := 0
	for _, c := range []int{7, 100, 0} {
		res, err := s.Replay(ctx, ReplayOptions{To: to, Count: c})
		if err != nil {
			t.Fatal(err)
		}
		if c > 0 && res.Attempted != c {
			t.Fatalf("count %d: %v", c, res)
		}
		total += res.Delivered
	}
	if total != 250 || up.Keys() != 250 {
		t.Fatalf("delivered %d, distinct %d", total, up.Keys())
	}
}

func TestMaxLen(t *testing.T) {
	ctx := context.Background()
	s := open(t, 10)
	for i := 0; i < 1000; i++ {
		if _, err := s.Add(ctx, envelope(fmt.Sprint("m", i), "orders", "POST", false)); err != nil {
			t.Fatal(err)
		}
	}
	// Approximate trimming removes whole stream nodes (100 entries by
	// default): the length stays near the cap, far below what was added.
	if n := s.R.XLen(ctx, s.Name).Val(); n < 10 || n > 200 {
		t.Fatalf("length %d with maxlen ~10", n)
	}
	if _, err := s.Add(ctx, []byte(`{"version":1}`)); err == nil {
		t.Fatal("invalid envelope added")
	}
}

// TestPendingAfterDeletes: entries deleted from the stream while pending
// stay in the group's pending list; the states (and so purge) still see
// every pending entry that remains.
func TestPendingAfterDeletes(t *testing.T) {
	ctx := context.Background()
	s := open(t, 0)
	var entries []string
	for i := 0; i < 5; i++ {
		id, err := s.Add(ctx, envelope(fmt.Sprint("p", i), "orders", "POST", false))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, id)
	}
	up := testsvc.NewReplayTarget(t)
	for i := 0; i < 5; i++ {
		up.FailNext(fmt.Sprint("p", i), 1)
	}
	if res, err := s.Replay(ctx, ReplayOptions{To: up.URL}); err != nil || res.Failed != 5 {
		t.Fatalf("%v %v", res, err)
	}
	if err := s.R.XDel(ctx, s.Name, entries[1], entries[2], entries[3]).Err(); err != nil {
		t.Fatal(err)
	}
	if st := states(t, s); len(st) != 2 || st["p0"] != "pending" || st["p4"] != "pending" {
		t.Fatalf("states %v", st)
	}
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge removed %d pending records (%v)", n, err)
	}
}
