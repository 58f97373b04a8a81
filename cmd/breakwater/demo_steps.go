package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// The demo's steps: short runs of requests with the plugin's clock held
// still (and moved on explicitly where a step needs time to pass), so that
// what each check asserts is a count that is the same on any machine. The
// real-time load shows the story; the steps prove it:
//
//   - before the phases, the bulkhead step: the upstream holds
//     max_concurrent requests, queue.max_size more wait in the queue, the
//     next is rejected bulkhead_full at once;
//   - at the start of the failing phase (the load paused, the requests in
//     flight finished), the breaker step: requests fail until the breaker
//     opens, then are rejected circuit_open without reaching the upstream;
//   - at the start of the recovered phase (the same), the clock moves on
//     past max_open_duration and requests are sent until the breaker has
//     closed again (at least half_open_calls of them).
//
// The step requests of the phases are part of the timeline (they are
// requests of that phase); the bulkhead step's are not.

// demoHeldPath is the path of the bulkhead step's requests: while the
// upstream's gate is set, it holds them until the step lets them go.
const demoHeldPath = "/api/orders/held"

// demoStepBound bounds every wait of a step, in case the plugin is stuck:
// a bound, not a measurement (a step takes milliseconds).
const demoStepBound = 30 * time.Second

// demoShedProbes is how many circuit_open rejections the breaker step waits
// for; demoMaxProbes bounds the requests of a step.
const (
	demoShedProbes = 10
	demoMaxProbes  = 40
	demoHalfOpen   = 3 // circuit_breaker.half_open_calls
)

// demoScaled is a duration of the configuration scaled with --duration,
// never below floor.
func demoScaled(scale float64, base, floor time.Duration) time.Duration {
	return max(time.Duration(float64(base)*scale).Round(time.Millisecond), floor)
}

// window and maxOpen are the breaker's window size and max_open_duration.
func (r *demoRun) window() time.Duration { return demoScaled(r.scale, 2*time.Second, time.Second) }
func (r *demoRun) maxOpen() time.Duration {
	return demoScaled(r.scale, 3*time.Second, 10*time.Millisecond)
}

// demoAnswer is one answer seen by a step.
type demoAnswer struct {
	status int
	reason string
	err    error
}

func (a demoAnswer) String() string {
	if a.err != nil {
		return "error " + a.err.Error()
	}
	if a.reason != "" {
		return fmt.Sprintf("%d %s", a.status, a.reason)
	}
	return fmt.Sprint(a.status)
}

func demoGet(client *http.Client, url, path, user string) demoAnswer {
	req, _ := http.NewRequest(http.MethodGet, url+path, nil)
	req.Header.Set("x-user-id", user)
	resp, err := client.Do(req)
	if err != nil {
		return demoAnswer{err: err}
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return demoAnswer{status: resp.StatusCode, reason: resp.Header.Get("x-breakwater-reason")}
}

// probe sends one request of a phase step and files it in the timeline.
func (r *demoRun) probe(l *demoLoad, phase int, user string) demoAnswer {
	r.sent.Add(1)
	t0 := time.Now()
	a := demoGet(l.client, l.url, "/api/orders/step", user)
	r.record(phase, user, time.Since(t0), a.status, a.reason, a.err)
	return a
}

// stepLine prints what a step did, under the phase line.
func (r *demoRun) stepLine(format string, args ...any) {
	prefix := ""
	if r.env.tty {
		prefix = "\r" + strings.Repeat(" ", 110) + "\r"
	}
	fmt.Fprintf(r.out, "%s         step: %s\n", prefix, fmt.Sprintf(format, args...))
}

// phaseStep is the step that starts phase i (nil when none).
func (r *demoRun) phaseStep(i int) func(*demoLoad, *devhost.Host) {
	switch i {
	case phaseFailing:
		return r.breakerOpenStep
	case phaseRecovered:
		return r.breakerCloseStep
	}
	return nil
}

// ---------------------------------------------------------------------------
// the bulkhead step

// demoGate holds the bulkhead step's requests at the upstream until release
// is closed.
type demoGate struct {
	arrived   chan struct{}
	release   chan struct{}
	in, peak  atomic.Int64
	cancelled atomic.Int64 // attempts the router gave up on while held
}

func newDemoGate() *demoGate {
	return &demoGate{arrived: make(chan struct{}, 64), release: make(chan struct{})}
}

func (g *demoGate) serve(w http.ResponseWriter, req *http.Request) {
	n := g.in.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	select {
	case <-g.release:
	case <-req.Context().Done():
		g.cancelled.Add(1)
	}
	g.in.Add(-1)
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintln(w, `{"phase":"held"}`)
}

// bulkheadStepResult is what the bulkhead step saw.
type bulkheadStepResult struct {
	attempts      int
	held, queued  int        // at the upstream / in the queue when the last one was sent
	last          demoAnswer // the request beyond the slots and the queue
	served, other int        // the others, once the upstream answered
	peak          int64      // the most the upstream held at once
	why           string     // why an attempt was void
	ok            bool
}

// bulkheadStep runs before the phases, with the plugin's clock held still:
// max_concurrent requests reach the upstream, which holds them; then
// queue.max_size more are sent one at a time, each waiting in the queue
// (the queued gauge counts it; max_wait never passes on the held clock);
// then one more, which finds no slot and a full queue: bulkhead_full at
// once. Then the upstream answers and every held and queued request is
// served. The counts do not depend on the machine's speed. The router's
// per-try and request timeouts run on the wall clock: if one ends a held
// request before the last one was answered (a machine slower than the
// timeouts), the attempt is void and repeated, at most 3 times.
func (r *demoRun) bulkheadStep(client *http.Client, url string, host *devhost.Host, up *demoUpstream) {
	r.clock.hold()
	defer r.clock.release()
	queuedGauge := func() uint64 {
		v, _ := host.Metric(metricdef.Name(config.DefaultNamespace, metricdef.BulkheadQueued, demoPolicy))
		return v
	}
	res := &r.bh
	for attempt := 1; attempt <= 3; attempt++ {
		// The global bucket refills (burst 30; the step sends 13).
		r.clock.advance(time.Second)
		*res = bulkheadStepResult{attempts: attempt}
		g := newDemoGate()
		up.gate.Store(g)
		answers := make(chan demoAnswer, demoMaxConcurrent+demoQueue)
		sent, answered := 0, 0
		send := func() {
			sent++
			user := fmt.Sprintf("held-%d-%d", attempt, sent)
			go func() { answers <- demoGet(client, url, demoHeldPath, user) }()
		}
		void := func(format string, args ...any) {
			if res.why == "" {
				res.why = fmt.Sprintf(format, args...)
			}
		}
		bound := time.After(demoStepBound)
		for i := 0; i < demoMaxConcurrent; i++ {
			send()
		}
		for got := 0; res.why == "" && got < demoMaxConcurrent; {
			select {
			case <-g.arrived:
				got++
			case a := <-answers:
				answered++
				void("a request was answered (%v) before the upstream let it go", a)
			case <-bound:
				void("the requests did not reach the upstream within %v", demoStepBound)
			}
		}
		for i := 1; res.why == "" && i <= demoQueue; i++ {
			send()
			for res.why == "" && queuedGauge() < uint64(i) {
				select {
				case a := <-answers:
					answered++
					void("a request was answered (%v) while the upstream held the slots", a)
				case <-bound:
					void("the queue did not reach %d within %v", i, demoStepBound)
				case <-time.After(time.Millisecond):
				}
			}
		}
		if res.why == "" {
			res.held, res.queued = int(g.in.Load()), int(queuedGauge())
			res.last = demoGet(client, url, demoHeldPath, fmt.Sprintf("held-%d-last", attempt))
			select {
			case a := <-answers:
				answered++
				void("a held or queued request was answered (%v) before the last one", a)
			default:
			}
		}
		close(g.release)
		for ; answered < sent; answered++ {
			select {
			case a := <-answers:
				if a.err == nil && a.status == http.StatusOK && a.reason == "" {
					res.served++
				} else {
					res.other++
				}
			case <-time.After(demoStepBound):
				void("%d requests not answered within %v of the upstream's answer", sent-answered, demoStepBound)
				answered = sent
			}
		}
		up.gate.Store(nil)
		res.peak = g.peak.Load()
		if res.why != "" {
			continue
		}
		res.ok = res.held == demoMaxConcurrent && res.queued == demoQueue &&
			res.last.err == nil && res.last.status == http.StatusServiceUnavailable && res.last.reason == "bulkhead_full" &&
			res.served == demoMaxConcurrent+demoQueue && res.other == 0 && res.peak <= demoMaxConcurrent
		break
	}
}

// ---------------------------------------------------------------------------
// the breaker steps

// breakerOpenResult is what the breaker step of the failing phase saw.
type breakerOpenResult struct {
	before       string        // the breaker's state when the step began
	advanced     time.Duration // the clock moved on by
	failed       int           // requests that reached the upstream and failed before it opened
	shed         int           // requests rejected circuit_open after it opened
	shedUpstream int64         // upstream requests while those were sent
	other        []string      // anything else
}

// breakerOpenStep starts the failing phase (the load paused, nothing in
// flight): with the clock held, moved on past the window and
// max_open_duration (the healthy calls leave the window, an open breaker
// may probe), requests are sent one at a time: they fail (503) until the
// breaker opens (minimum_calls from closed), then demoShedProbes more are
// rejected circuit_open, which the upstream never sees. Two POST /checkout
// are sent too: they fail for good and become dead letters.
func (r *demoRun) breakerOpenStep(l *demoLoad, host *devhost.Host) {
	r.clock.hold()
	defer r.clock.release()
	res := &r.opening
	res.advanced = 2*r.window() + r.maxOpen()
	r.clock.advance(res.advanced)
	res.before = breakerState(host)
	st := r.stats[phaseFailing]
	for i := 0; i < demoMaxProbes && res.shed < demoShedProbes; i++ {
		u0 := st.upstream.Load()
		a := r.probe(l, phaseFailing, fmt.Sprintf("probe-open-%d", i))
		switch {
		case a.err == nil && a.reason == "circuit_open":
			res.shed++
			res.shedUpstream += st.upstream.Load() - u0
		case a.err == nil && a.status == http.StatusServiceUnavailable && res.shed == 0:
			res.failed++
		default:
			res.other = append(res.other, a.String())
		}
	}
	for i := 0; i < 2; i++ {
		r.dl.post(l, phaseFailing)
	}
	r.stepLine("load paused, plugin clock held and moved on %v: the breaker was %s; %d requests failed (503), then %d were rejected circuit_open (the upstream saw %d of them)",
		res.advanced, res.before, res.failed, res.shed, res.shedUpstream)
}

// breakerCloseResult is what the breaker step of the recovered phase saw.
type breakerCloseResult struct {
	before, after string
	advanced      time.Duration
	probes, ok    int
	other         []string
}

// breakerCloseStep starts the recovered phase (the load paused, nothing in
// flight): with the clock held and moved on by max_open_duration (an open
// breaker may probe), requests are sent one at a time, at least
// half_open_calls of them, until the breaker is closed. On the held clock
// no call is slow.
func (r *demoRun) breakerCloseStep(l *demoLoad, host *devhost.Host) {
	r.clock.hold()
	defer r.clock.release()
	res := &r.closing
	res.advanced = r.maxOpen()
	r.clock.advance(res.advanced)
	res.before = breakerState(host)
	for i := 0; i < demoMaxProbes && (i < demoHalfOpen || breakerState(host) != "closed"); i++ {
		a := r.probe(l, phaseRecovered, fmt.Sprintf("probe-close-%d", i))
		res.probes++
		if a.err == nil && a.status == http.StatusOK && a.reason == "" {
			res.ok++
		} else {
			res.other = append(res.other, a.String())
		}
	}
	res.after = breakerState(host)
	r.stepLine("load paused, plugin clock held and moved on %v (max_open_duration): the breaker was %s; %d requests, %d answered 200; now %s",
		res.advanced, res.before, res.probes, res.ok, res.after)
}
