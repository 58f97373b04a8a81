package main

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/internal/testsvc"
	"github.com/breakwater/breakwater/patterns/deadletter"
)

// TestDLQCommands: serve stores valid records and refuses bad ones, list
// shows them, replay delivers them with their idempotency key, purge
// removes them; against a real redis-server.
func TestDLQCommands(t *testing.T) {
	redis := "redis://" + testsvc.Redis(t) + "/0"
	sig := make(chan os.Signal, 1)
	addr := make(chan string, 1)
	exited := make(chan int, 1)
	var out, errb bytes.Buffer
	go func() {
		exited <- runDLQEnv([]string{"serve", "--redis", redis, "--listen", "127.0.0.1:0", "--maxlen", "1000"}, &out, &errb,
			dlqEnv{signals: sig, ready: func(a string) { addr <- a }})
	}()
	var sink string
	select {
	case a := <-addr:
		sink = "http://" + a
	case c := <-exited:
		t.Fatalf("serve exited %d: %s", c, errb.String())
	}
	for i, id := range []string{"r1", "r2"} {
		e := deadletter.Envelope{Version: 1, ID: id, Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC), Policy: "orders",
			Reason: "upstream_failure", Status: 503, Attempts: 2, Method: "POST", Path: "/orders", Body: []byte("{}")}
		resp, err := http.Post(sink+"/records", "application/json", bytes.NewReader(e.Encode()))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("post: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(sink+"/records", "application/json", strings.NewReader(`{"version":1}`))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("bad record: %v %v", err, resp)
	}
	resp.Body.Close()

	run := func(args ...string) (int, string) {
		var o, e bytes.Buffer
		c := runDLQEnv(args, &o, &e, dlqEnv{})
		return c, o.String() + e.String()
	}
	if c, o := run("list", "--redis", redis, "--since", "2026-01-01T00:00:01Z"); c != 0 || !strings.Contains(o, "1 records") {
		t.Fatalf("list --since %d:\n%s", c, o)
	}
	if c, _ := run("list", "--redis", redis, "--until", "yesterday"); c != exitUsage {
		t.Fatalf("bad --until accepted: %d", c)
	}
	c, listed := run("list", "--redis", redis, "--state", "new")
	if c != 0 || !strings.Contains(listed, "orders") || !strings.Contains(listed, "r1") || !strings.Contains(listed, "2 records") {
		t.Fatalf("list %d:\n%s", c, listed)
	}
	up := testsvc.NewReplayTarget(t)
	c, replayed := run("replay", "--redis", redis, "--to", up.URL)
	if c != 0 || up.Delivered("r1") != 1 || up.Delivered("r2") != 1 || !strings.Contains(replayed, "2 delivered") {
		t.Fatalf("replay %d (%d arrived):\n%s", c, up.Keys(), replayed)
	}
	if c, o := run("purge", "--redis", redis); c != 0 || !strings.Contains(o, "2 acknowledged records removed") {
		t.Fatalf("purge %d: %s", c, o)
	}
	if c, o := run("replay", "--redis", redis); c != exitUsage {
		t.Fatalf("replay without --to: %d %s", c, o)
	}
	if c, _ := run("nope"); c != exitUsage {
		t.Fatal("unknown subcommand")
	}
	sig <- os.Interrupt
	if c := <-exited; c != 0 {
		t.Fatalf("serve exit %d: %s", c, errb.String())
	}
}
