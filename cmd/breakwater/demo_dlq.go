package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/dlq"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// Dead letters in the demo: a second policy, "checkout" (POST /checkout,
// one retry), records the POSTs that still fail after the retry and sends
// them to the sink (`breakwater dlq serve`'s handler) on a real
// redis-server started for the demo on a loopback port. At the end the
// records are replayed to the recovered upstream and the demo prints how
// many arrived. The checkout traffic is kept out of the timeline's counts.

const (
	demoCheckoutPolicy = "checkout"
	demoCheckoutRPS    = 8
)

// demoDLQ is the dead-letter part of one demo run.
type demoDLQ struct {
	skipped string // why the part does not run ("" when it does)
	redis   *exec.Cmd
	stream  *dlq.Stream
	sink    *http.Server
	sinkURL string

	// client side, by the phase the POST was sent in
	sent, failed [4]atomic.Int64
	seq          atomic.Int64 // order numbers of the POSTs
	// upstream side: replays answered 2xx, per Idempotency-Key
	mu       sync.Mutex
	replayed map[string]int
}

// demoCheckoutConfig is the checkout policy of the demo configuration.
const demoCheckoutConfig = `{
    "name": "checkout",
    "match": {"path_prefix": "/checkout"},
    "retry": {"max_retries": 1, "retry_on": ["5xx"], "methods": ["POST"]},
    "dead_letter": {"cluster": "dlq", "on": ["upstream_failure"], "methods": ["POST"], "timeout": "1s"}
  }`

// startDemoDLQ starts redis-server and the sink. When redis-server cannot
// run, the part is skipped (the demo says so) and records go to a closed
// port, where they are counted as failed.
func startDemoDLQ() *demoDLQ {
	d := &demoDLQ{replayed: map[string]int{}}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		d.skipped = "redis-server is not installed (make demo installs it)"
		d.sinkURL = "http://127.0.0.1:" + strconv.Itoa(freePort())
		return d
	}
	port := freePort()
	d.redis = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := d.redis.Start(); err != nil {
		d.skipped = "redis-server did not start: " + err.Error()
		d.redis = nil
		d.sinkURL = "http://127.0.0.1:" + strconv.Itoa(freePort())
		return d
	}
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	for deadline := time.Now().Add(10 * time.Second); ; {
		s, err := dlq.Open(context.Background(), url, dlq.DefaultStream, dlq.DefaultMaxLen)
		if err == nil {
			d.stream = s
			break
		}
		if time.Now().After(deadline) {
			d.skipped = "redis-server did not answer: " + err.Error()
			d.sinkURL = "http://127.0.0.1:" + strconv.Itoa(freePort())
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		d.skipped = err.Error()
		return d
	}
	d.sink = &http.Server{Handler: d.stream.Handler()}
	go d.sink.Serve(ln)
	d.sinkURL = "http://" + ln.Addr().String()
	return d
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 1
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (d *demoDLQ) close() {
	if d.sink != nil {
		d.sink.Close()
	}
	if d.stream != nil {
		d.stream.Close()
	}
	if d.redis != nil {
		d.redis.Process.Kill()
		d.redis.Wait()
	}
}

// upstream answers the checkout requests: 503 in the failing phase, 201
// otherwise; a replay (Idempotency-Key) is counted once per key answered.
func (d *demoDLQ) upstream(w http.ResponseWriter, req *http.Request, phase int32) {
	io.Copy(io.Discard, req.Body)
	if phase == phaseFailing {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if k := req.Header.Get("Idempotency-Key"); k != "" {
		d.mu.Lock()
		d.replayed[k]++
		d.mu.Unlock()
	}
	w.WriteHeader(http.StatusCreated)
}

// generate sends POST /checkout at demoCheckoutRPS, evenly spaced (so that
// even the shortest failing phase, 0.75s, gets some), until ctx ends.
func (d *demoDLQ) generate(ctx context.Context, l *demoLoad) {
	l.gens.Add(1)
	go func() {
		defer l.gens.Done()
		next := time.Now()
		for {
			next = next.Add(time.Second / demoCheckoutRPS)
			if !sleepUntil(ctx, next) {
				return
			}
			phase := l.r.phase.Load()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				d.post(l, phase)
			}()
		}
	}()
}

// post sends one POST /checkout, filed under phase, and waits for the answer.
func (d *demoDLQ) post(l *demoLoad, phase int32) {
	d.sent[phase].Add(1)
	n := d.seq.Add(1) - 1
	body := fmt.Sprintf(`{"order":%d,"sku":"demo-%d","qty":1}`, n, n%7)
	req, _ := http.NewRequest(http.MethodPost, l.url+"/checkout", strings.NewReader(body))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("authorization", "Bearer demo-secret")
	resp, err := l.client.Do(req)
	if err != nil {
		d.failed[phase].Add(1)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		d.failed[phase].Add(1)
	}
}

// finish waits for the records to be answered by the sink, replays them to
// the recovered upstream and prints the outcome as checks; it returns the
// number of checks that failed.
func (d *demoDLQ) finish(w io.Writer, host *devhost.Host, upstreamURL string) int {
	fmt.Fprintln(w)
	fmt.Fprintln(w, "dead letters (policy checkout: POST /checkout, 1 retry; records to a Redis Stream, replayed at the end)")
	if d.skipped != "" {
		fmt.Fprintf(w, "  skipped: %s\n", d.skipped)
		return 0
	}
	m := func(what string) int64 {
		v, _ := host.Metric(metricdef.Name(config.DefaultNamespace, "dead_letter_"+what+"_total", demoCheckoutPolicy))
		return int64(v)
	}
	// The sends leave from the workers' ticks; wait (bounded) until each
	// record is answered, failed or dropped.
	for deadline := time.Now().Add(time.Minute); m("sent")+m("failed")+m("dropped") < m("recorded") && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	sent, failed := int64(0), int64(0)
	for i := range d.sent {
		sent += d.sent[i].Load()
		failed += d.failed[i].Load()
	}
	ctx := context.Background()
	stored := d.stream.R.XLen(ctx, d.stream.Name).Val()
	res, err := d.stream.Replay(ctx, dlq.ReplayOptions{To: upstreamURL, MinIdle: 0})
	d.mu.Lock()
	arrived := len(d.replayed)
	once := true
	for _, n := range d.replayed {
		once = once && n == 1
	}
	d.mu.Unlock()

	bad := 0
	check := func(ok bool, format string, args ...any) {
		mark := "[ok]"
		if !ok {
			mark = "[!!]"
			bad++
		}
		fmt.Fprintf(w, "  %s %s\n", mark, fmt.Sprintf(format, args...))
	}
	check(d.failed[phaseFailing].Load() > 0 && m("recorded") == failed,
		"%d POSTs sent, %d failed for good (503 after the retry), %d of them in the failing phase; the filter recorded %d",
		sent, failed, d.failed[phaseFailing].Load(), m("recorded"))
	check(m("sent") == m("recorded") && stored == m("sent"),
		"the filter sent %d records to the sink after the responses (%d failed, %d dropped); %d stored in the stream",
		m("sent"), m("failed"), m("dropped"), stored)
	check(err == nil && int64(arrived) == stored && once && res.Failed == 0,
		"replayed to the recovered upstream: %d of %d arrived, each exactly once (Idempotency-Key = record id)", arrived, stored)
	return bad
}
