package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/dlq"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/testsvc"
)

// waitCount waits up to a minute until cond holds (a count reached): the
// records travel over real sockets, but the test asserts counts, never how
// long they took.
func waitCount(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsvc.Eventually(t, what, time.Minute, cond)
}

// TestDeadLetters: POSTs that still fail after the router's retries land in
// a real Redis Stream (through `dlq serve`'s handler) with their bodies and
// redacted headers; GETs and successes do not; a sink that is down loses
// records only as counted (failed_total); replay delivers each record
// exactly once to a healthy upstream and leaves a failed replay pending
// until a later run claims it.
func TestDeadLetters(t *testing.T) {
	ctx := context.Background()
	redis := testsvc.Redis(t)
	stream, err := dlq.Open(ctx, "redis://"+redis+"/0", dlq.DefaultStream, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	sink := httptest.NewServer(stream.Handler())
	defer sink.Close()
	down := "http://127.0.0.1:" + fmt.Sprint(testsvc.FreePort(t)) // nothing listens there

	up := newUpstream(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ok") {
			io.WriteString(w, "ok")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	cfg := `{"policies":[
 {"name":"orders","match":{"path_prefix":"/orders"},"retry":{"max_retries":2,"retry_on":["5xx"],"methods":["GET","POST"]},
  "dead_letter":{"cluster":"dlq","timeout":"5s"}},
 {"name":"payments","match":{"path_prefix":"/payments"},"dead_letter":{"cluster":"dlqdown","timeout":"5s"}},
 {"name":"okay","match":{"path_prefix":"/ok"},"dead_letter":{"cluster":"dlq"}}]}`
	clock := devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	e := newEnv(t, devhost.Options{PluginConfig: []byte(cfg), Clock: clock, RetryBaseInterval: time.Millisecond,
		MaxConcurrentRetries: -1, Clusters: map[string]string{"upstream": up.URL, "dlq": sink.URL, "dlqdown": down}})

	post := func(path, body string) result {
		req, _ := http.NewRequest("POST", e.front.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer secret-token")
		req.Header.Set("Cookie", "session=secret-cookie")
		req.Header.Set("X-Order", body)
		resp, err := e.client.Do(req)
		if err != nil {
			return result{err: err}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	}
	const failedPosts, gets, okPosts, downPosts = 20, 10, 10, 5
	parallel(failedPosts, func(i int) {
		if r := post("/orders", fmt.Sprintf(`{"order":%d}`, i)); r.status != 503 || r.header.Get("X-Envoy-Attempt-Count") != "3" {
			t.Errorf("failing POST: %v attempts %q", r, r.header.Get("X-Envoy-Attempt-Count"))
		}
	})
	parallel(gets, func(i int) { e.do("GET", "/orders") })
	parallel(okPosts, func(i int) {
		if r := post("/ok", "{}"); r.status != 200 {
			t.Errorf("ok POST: %v", r)
		}
	})
	parallel(downPosts, func(i int) { post("/payments", `{"pay":1}`) })
	if t.Failed() {
		t.FailNow()
	}
	m := func(p, what string) uint64 {
		return metric(e.h, metricdef.Name("breakwater", "dead_letter_"+what+"_total", p))
	}
	if m("orders", "recorded") != failedPosts || m("okay", "recorded") != 0 || m("payments", "recorded") != downPosts {
		t.Fatalf("recorded: orders %d okay %d payments %d", m("orders", "recorded"), m("okay", "recorded"), m("payments", "recorded"))
	}
	if n := stream.R.XLen(ctx, stream.Name).Val(); n != 0 {
		t.Fatalf("%d records stored before the tick: the send must come after the response", n)
	}
	clock.Advance(20 * time.Millisecond) // every worker's tick sends its records
	waitCount(t, "the sink's answers", func() bool {
		return m("orders", "sent")+m("orders", "failed") == failedPosts && m("payments", "sent")+m("payments", "failed") == downPosts
	})
	if m("orders", "sent") != failedPosts || m("orders", "dropped") != 0 {
		t.Fatalf("orders: sent %d failed %d dropped %d", m("orders", "sent"), m("orders", "failed"), m("orders", "dropped"))
	}
	// The sink that is down: every record lost is counted as failed.
	if m("payments", "failed") != downPosts || m("payments", "sent") != 0 {
		t.Fatalf("payments: sent %d failed %d", m("payments", "sent"), m("payments", "failed"))
	}

	var recs []dlq.Record
	if err := stream.List(ctx, dlq.Filter{}, 0, func(r dlq.Record) { recs = append(recs, r) }); err != nil {
		t.Fatal(err)
	}
	if len(recs) != failedPosts {
		t.Fatalf("%d records stored, want %d", len(recs), failedPosts)
	}
	ids, bodies := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		ev := r.Envelope
		if r.Err != nil || ev.Policy != "orders" || ev.Method != "POST" || ev.Reason != "upstream_failure" || ev.Status != 503 ||
			ev.Attempts != 3 || ev.Path != "/orders" || ev.Truncated || r.State != "new" {
			t.Fatalf("record %+v (%v, %s)", ev, r.Err, r.State)
		}
		if a, _ := ev.Header("authorization"); a != "[redacted]" {
			t.Fatalf("authorization %q", a)
		}
		if c, _ := ev.Header("cookie"); c != "[redacted]" {
			t.Fatalf("cookie %q", c)
		}
		if x, _ := ev.Header("x-order"); x != string(ev.Body) {
			t.Fatalf("body %q, header %q", ev.Body, x)
		}
		ids[ev.ID], bodies[string(ev.Body)] = true, true
	}
	if len(ids) != failedPosts || len(bodies) != failedPosts {
		t.Fatalf("%d distinct ids, %d distinct bodies", len(ids), len(bodies))
	}

	// Replay to the recovered upstream; the first replay of one record fails.
	target := testsvc.NewReplayTarget(t)
	target.FailNext(recs[3].Envelope.ID, 1)
	res, err := stream.Replay(ctx, dlq.ReplayOptions{To: target.URL, MinIdle: time.Hour})
	if err != nil || res.Delivered != failedPosts-1 || res.Failed != 1 {
		t.Fatalf("first replay: %v %v", res, err)
	}
	pending := 0
	stream.List(ctx, dlq.Filter{State: "pending"}, 0, func(dlq.Record) { pending++ })
	if pending != 1 {
		t.Fatalf("%d pending after a failed replay, want 1", pending)
	}
	res, err = stream.Replay(ctx, dlq.ReplayOptions{To: target.URL, MinIdle: 0})
	if err != nil || res.Delivered != 1 || res.Retried != 1 {
		t.Fatalf("second replay: %v %v", res, err)
	}
	for _, r := range recs {
		id := r.Envelope.ID
		if target.Delivered(id) != 1 || target.Body(id) != string(r.Envelope.Body) {
			t.Fatalf("record %s delivered %d times with body %q", id, target.Delivered(id), target.Body(id))
		}
		if target.Header(id).Get("Authorization") != "" {
			t.Fatalf("record %s replayed with the redacted Authorization", id)
		}
	}
	n, err := stream.Purge(ctx)
	if err != nil || n != failedPosts {
		t.Fatalf("purge %d %v", n, err)
	}
	t.Logf("e2e figures: recorded %d (+%d to a down sink, all counted failed), sent %d, stored %d, replayed %d attempts, delivered %d (each once), purged %d",
		m("orders", "recorded"), downPosts, m("orders", "sent"), len(recs), failedPosts+target.Failed(), target.Keys(), n)
	checkNoTraps(t, e.h)
}
