package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// The demo: the built plugin in the dev host, in front of a built-in
// upstream that goes through phases, under a load of a few thousand
// requests; it prints a progress line while it runs and a timeline per
// phase at the end. Everything is on loopback, in this process.

// demoPhase is one phase of the built-in upstream.
type demoPhase struct {
	name   string
	weight float64 // seconds at the default 30s duration
	what   string  // what the upstream does, for the table
	long   string  // the same, for the phase line
}

var demoPhases = []demoPhase{
	{"healthy", 8, "200/15ms", "200 in 10-25ms"},
	{"failing", 8, "503/1ms", "503 at once"},
	{"slow", 6, "200/300ms", "200 in 300ms (slow_call_duration is 200ms)"},
	{"recovered", 8, "200/15ms", "200 in 10-25ms"},
}

const (
	phaseHealthy = iota
	phaseFailing
	phaseSlow
	phaseRecovered
)

// Demo constants. Rates and latencies do not scale with --duration; the
// phases and the breaker's time constants do.
const (
	demoDefaultDuration = 30 * time.Second
	demoSlowLatency     = 300 * time.Millisecond // slow phase, above slow_call_duration
	demoSlowCall        = 200 * time.Millisecond // circuit_breaker.slow_call_duration
	demoPerUserRPS      = 20                     // rate_limit per_user: requests per second (burst the same)
	demoGlobalRPS       = 80                     // rate_limit global: requests per second
	demoGlobalBurst     = 30
	demoMaxConcurrent   = 6 // bulkhead.max_concurrent
	demoQueue           = 6 // bulkhead.queue.max_size
	demoBurstSize       = 30
	demoPolicy          = "api"
)

// demoUsers are the steady clients: mallory sends about half the traffic,
// more than the per-user limit allows.
var demoUsers = []struct {
	id  string
	rps float64
}{{"alice", 12}, {"bob", 12}, {"carol", 12}, {"dave", 12}, {"mallory", 50}}

// demoConfig is the plugin configuration of the demo; scale shrinks the
// breaker's time constants with the phases (1 at 30s).
func demoConfig(scale float64) []byte {
	d := func(base, floor time.Duration) string { return demoScaled(scale, base, floor).String() }
	return []byte(fmt.Sprintf(`{
  "policies": [{
    "name": %q,
    "match": {"path_prefix": "/api"},
    "rate_limit": {"limits": [
      {"name": "per_user", "key": ["header:x-user-id"], "requests": %d, "per": "1s", "burst": %d},
      {"name": "global", "requests": %d, "per": "1s", "burst": %d}]},
    "circuit_breaker": {
      "window": {"type": "time", "size": %q, "buckets": 8},
      "minimum_calls": 10,
      "failure_rate_threshold": 0.5,
      "slow_call_duration": %q,
      "slow_call_rate_threshold": 0.5,
      "open_duration": %q,
      "open_backoff": 1.5,
      "max_open_duration": %q,
      "half_open_calls": 3},
    "fallback": {"on": ["circuit_open", "upstream_failure"], "status": 503,
      "headers": {"content-type": "application/json"},
      "body": "{\"error\":\"orders are degraded, try again shortly\",\"degraded\":true}"},
    "bulkhead": {"max_concurrent": %d, "queue": {"max_size": %d, "max_wait": "50ms"}, "lease_ttl": "10s"},
    "retry": {"max_retries": 2, "retry_on": ["5xx", "reset", "connect-failure"], "per_try_timeout": "500ms",
      "budget": {"ratio": 0.2, "min_per_second": 5}},
    "timeout": {"request": "1s"}
  }, %s]
}
`, demoPolicy, demoPerUserRPS, demoPerUserRPS, demoGlobalRPS, demoGlobalBurst,
		// a window of at least 1s holds enough calls to decide even on a busy machine
		d(2*time.Second, time.Second), demoSlowCall.String(), d(2*time.Second, 10*time.Millisecond), d(3*time.Second, 10*time.Millisecond),
		demoMaxConcurrent, demoQueue, demoCheckoutConfig))
}

const demoUsage = `usage: breakwater demo [--wasm dist/breakwater.wasm] [--duration 30s] [--workers 4] [--print-config]

Runs the plugin in the dev host (4 worker VMs) in front of a built-in upstream
that is healthy, then failing (503), then slow, then recovered, under a load of
a few thousand requests; prints a timeline per phase. --print-config prints the
plugin configuration the demo uses and exits.
`

// demoEnv lets a test force the terminal progress line.
type demoEnv struct {
	tty bool
}

func runDemo(args []string, stdout, stderr io.Writer) int {
	env := demoEnv{}
	if f, ok := stdout.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			env.tty = true
		}
	}
	return demo(args, stdout, stderr, env)
}

func demo(args []string, stdout, stderr io.Writer, env demoEnv) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	wasmPath := fs.String("wasm", "dist/breakwater.wasm", "the plugin module")
	duration := fs.Duration("duration", demoDefaultDuration, "total length of the four phases (3s..10m)")
	workers := fs.Int("workers", devhost.DefaultWorkers, "worker VMs")
	printConfig := fs.Bool("print-config", false, "print the plugin configuration and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, demoUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "breakwater: demo: %v\n%s", err, demoUsage)
		return exitUsage
	}
	if fs.NArg() != 0 || *duration < 3*time.Second || *duration > 10*time.Minute || *workers < 1 {
		fmt.Fprintf(stderr, "breakwater: demo: bad arguments\n%s", demoUsage)
		return exitUsage
	}
	scale := float64(*duration) / float64(demoDefaultDuration)
	cfg := demoConfig(scale)
	if *printConfig {
		stdout.Write(cfg)
		return exitOK
	}
	if _, err := config.Load(cfg); err != nil {
		fmt.Fprintf(stderr, "breakwater: demo: the embedded configuration is invalid: %v\n", err)
		return exitInvalid
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: demo: %v (run make build)\n", err)
		return exitInvalid
	}
	r := &demoRun{env: env, out: stdout, scale: scale}
	return r.run(wasm, *workers, stderr)
}

// demoRun is one run of the demo.
type demoRun struct {
	env   demoEnv
	out   io.Writer
	scale float64

	start  time.Time
	phase  atomic.Int32
	stats  []*phaseStats
	mu     sync.Mutex // guards the stats fields filled by responses
	events []breakerEvent
	notes  []string // warning and error lines of the plugin and the host

	// running totals for the progress line
	sent, done, admitted, rejected atomic.Int64
	// mallory's requests that went past the filter (upstream reached)
	malloryPassed atomic.Int64
	// the bulkhead gauges once the load is over
	active, queued uint64

	clock *demoClock
	// the burst step: mallory's answers with the clock held
	burstAdmitted, burstLimited, burstOther int
	// loadTime is the wall time from the start of the load until the
	// requests in flight finished; pluginLoadTime the same on the plugin's
	// clock (less the time held in the steps, plus the time advanced).
	loadTime, pluginLoadTime time.Duration
	// the steps with the clock held (demo_steps.go)
	bh      bulkheadStepResult
	opening breakerOpenResult
	closing breakerCloseResult
	skipped *atomic.Int64
	// dl is the dead-letter part (policy checkout).
	dl *demoDLQ
}

// phaseStats is what one phase saw.
type phaseStats struct {
	from, to time.Duration
	// client side, by the phase the request was sent in
	requests, admitted, errors int
	reasons                    map[string]int
	other                      map[int]int
	latencies                  []time.Duration
	// upstream side, by the phase the upstream was in
	upstream, peak atomic.Int64
	// from the host's counters and the plugin's metrics, deltas over the phase
	transitions, retries, budgetExhausted, limitedPerUser, limitedGlobal uint64
	stateEnd                                                             string
}

// breakerEvent is one transition, from the plugin's info log line.
type breakerEvent struct {
	at                    time.Duration
	phase                 int
	from, to              string
	failureRate, slowRate string
	calls                 string
}

func (r *demoRun) run(wasm []byte, workers int, stderr io.Writer) int {
	for range demoPhases {
		r.stats = append(r.stats, &phaseStats{reasons: map[string]int{}, other: map[int]int{}})
	}
	// The upstream.
	up := &demoUpstream{r: r, inflight: new(atomic.Int64)}
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: demo: %v\n", err)
		return exitInvalid
	}
	upSrv := &http.Server{Handler: up}
	go upSrv.Serve(upLn)
	defer upSrv.Close()

	// The dead-letter sink on a real Redis.
	r.dl = startDemoDLQ()
	defer r.dl.close()

	// The plugin in the dev host.
	logs := &demoLogs{r: r}
	r.clock = &demoClock{}
	host, err := devhost.New(devhost.Options{
		Wasm: wasm, PluginConfig: demoConfig(r.scale), Workers: workers,
		Clusters:  map[string]string{"upstream": "http://" + upLn.Addr().String(), "dlq": r.dl.sinkURL},
		LogWriter: logs, LogLevel: devhost.LogInfo, CompilationCache: sharedCache(),
		Clock: r.clock,
	})
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: demo: the plugin did not start: %v\n", err)
		return exitInvalid
	}
	defer host.Close()
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: demo: %v\n", err)
		return exitInvalid
	}
	proxySrv := &http.Server{Handler: host}
	go proxySrv.Serve(proxyLn)
	defer proxySrv.Close()

	total := time.Duration(0)
	for _, p := range demoPhases {
		total += r.phaseLen(p)
	}
	w := r.out
	fmt.Fprintf(w, "Breakwater demo: the plugin (.wasm) in the dev host with %d worker VMs, a built-in upstream, %s of load\n", host.Workers(), total.Round(time.Second))
	fmt.Fprintf(w, "policy %q: rate limit %d/s per user + %d/s global; circuit breaker (time window, slow calls > %v, half-open 3 probes);\n",
		demoPolicy, demoPerUserRPS, demoGlobalRPS, demoSlowCall)
	fmt.Fprintf(w, "  bulkhead %d concurrent + queue %d; retry 2 (budget 20%%); timeout 1s; JSON fallback (breakwater demo --print-config)\n", demoMaxConcurrent, demoQueue)
	fmt.Fprintf(w, "load: 5 users at ~%.0f req/s (mallory alone sends %.0f/s) + a burst of %d concurrent requests every %v\n",
		demoSteadyRPS(), demoUsers[len(demoUsers)-1].rps, demoBurstSize, r.burstPeriod().Round(10*time.Millisecond))
	fmt.Fprintf(w, "policy %q: POST /checkout at ~%d/s, 1 retry; what still fails is a dead letter, kept in a Redis Stream and replayed at the end\n\n",
		demoCheckoutPolicy, demoCheckoutRPS)

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 512,
			DisableCompression: true, IdleConnTimeout: 30 * time.Second},
	}
	defer client.CloseIdleConnections()
	load := &demoLoad{r: r, client: client, url: "http://" + proxyLn.Addr().String(), sem: make(chan struct{}, 512)}
	r.skipped = &load.skipped

	r.burstStep(client, load.url)
	r.bulkheadStep(client, load.url, host, up)
	snap := r.snapshot(host)
	r.mu.Lock() // the log writer reads start
	r.start = time.Now()
	r.mu.Unlock()
	pluginStart := r.clock.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	load.start(ctx)
	r.dl.generate(ctx, load)
	progress := time.NewTicker(200 * time.Millisecond)
	defer progress.Stop()
	var at time.Duration
	for i, p := range demoPhases {
		st := r.stats[i]
		st.from = at
		at += r.phaseLen(p)
		st.to = at
		r.phase.Store(int32(i))
		r.phaseLine(i)
		r.progressLine(host)
		if step := r.phaseStep(i); step != nil {
			// the load was paused at the end of the previous phase
			step(load, host)
			load.pause.Unlock()
		}
		end := r.start.Add(at)
		for time.Now().Before(end) {
			select {
			case <-progress.C:
				r.progressLine(host)
			case <-time.After(time.Until(end)):
			}
		}
		if i == len(demoPhases)-1 {
			cancel()
			load.wait(5 * time.Second)
			r.loadTime = time.Since(r.start)
			r.pluginLoadTime = r.clock.Now().Sub(pluginStart)
		} else if r.phaseStep(i+1) != nil {
			// The next phase starts with a step: pause the load and let
			// the requests in flight finish in this phase.
			load.pause.Lock()
		}
		next := r.snapshot(host)
		r.fill(st, snap, next)
		snap = next
	}
	if r.env.tty {
		fmt.Fprintf(w, "\r%s\r", strings.Repeat(" ", 110))
	}
	r.active, r.queued = bulkheadAfter(host)
	traps := host.Stats().Traps
	failed := r.report(w, traps)
	failed += r.dl.finish(w, host, "http://"+upLn.Addr().String())
	if traps > 0 {
		fmt.Fprintf(stderr, "breakwater: demo: the plugin trapped %d times\n", traps)
		return exitInvalid
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "breakwater: demo: %d of its checks failed (marked [!!] above)\n", failed)
		return exitInvalid
	}
	return exitOK
}

// demoClock is the plugin's clock in the demo: the wall clock, except that
// the demo can hold it still (hold/release) for its steps, so that a step's
// counts do not depend on how fast the machine serves it, and move it on
// explicitly while held (advance: a breaker's open duration or a window
// passes at once). Afterwards the plugin's clock runs at the wall clock's
// pace from the instant it was released at (behind the wall clock by the
// time held, ahead by the time advanced). Timers run on the wall clock.
type demoClock struct {
	mu       sync.Mutex
	held     bool
	at       time.Time     // the instant shown while held
	off      time.Duration // plugin time - wall time while running
	advanced time.Duration // total moved on by advance
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *demoClock) now() time.Time {
	if c.held {
		return c.at
	}
	return time.Now().Add(c.off)
}

func (c *demoClock) hold() {
	c.mu.Lock()
	c.at, c.held = c.now(), true
	c.mu.Unlock()
}

// advance moves the held clock on by d.
func (c *demoClock) advance(d time.Duration) {
	c.mu.Lock()
	c.at = c.at.Add(d)
	c.advanced += d
	c.mu.Unlock()
}

func (c *demoClock) release() {
	c.mu.Lock()
	c.held, c.off = false, time.Until(c.at)
	c.mu.Unlock()
}

func (*demoClock) AfterFunc(d time.Duration, f func()) devhost.Timer { return time.AfterFunc(d, f) }
func (*demoClock) Sleep(d time.Duration)                             { time.Sleep(d) }

// demoBurstStep is the number of back-to-back requests mallory sends in the
// burst step: twice the per-user burst.
const demoBurstStep = 2 * demoPerUserRPS

// burstStep runs before the phases: with the plugin's clock held still,
// mallory sends demoBurstStep requests one after the other. The per-user
// token bucket starts full (burst 20) and refills with the plugin's time,
// which does not move: exactly 20 are admitted, the rest rejected
// rate_limited, on any machine. (The global limit's burst, 30, admits the
// 20.) The requests are not part of the timeline.
func (r *demoRun) burstStep(client *http.Client, url string) {
	r.clock.hold()
	defer r.clock.release()
	for i := 0; i < demoBurstStep; i++ {
		req, _ := http.NewRequest(http.MethodGet, url+"/api/orders/burst", nil)
		req.Header.Set("x-user-id", "mallory")
		resp, err := client.Do(req)
		if err != nil {
			r.burstOther++
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			r.burstAdmitted++
		case resp.Header.Get("x-breakwater-reason") == "rate_limited":
			r.burstLimited++
		default:
			r.burstOther++
		}
	}
}

// bulkheadAfter reads the bulkhead gauges once the load is over. Each worker
// resynchronises them from the shared record every second (its increments
// can race), so it polls until both read 0, for at most 15 seconds (a
// bound for a busy machine, not a measurement).
func bulkheadAfter(host *devhost.Host) (active, queued uint64) {
	for i := 0; i < 150; i++ {
		active, _ = host.Metric(metricdef.Name(config.DefaultNamespace, metricdef.BulkheadActive, demoPolicy))
		queued, _ = host.Metric(metricdef.Name(config.DefaultNamespace, metricdef.BulkheadQueued, demoPolicy))
		if active == 0 && queued == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	return
}

func demoSteadyRPS() float64 {
	s := 0.0
	for _, u := range demoUsers {
		s += u.rps
	}
	return s
}

func (r *demoRun) phaseLen(p demoPhase) time.Duration {
	return time.Duration(p.weight * r.scale * float64(time.Second)).Round(time.Millisecond)
}

// burstPeriod: four bursts per 8s phase.
func (r *demoRun) burstPeriod() time.Duration {
	return time.Duration(2 * r.scale * float64(time.Second))
}

func (r *demoRun) since() time.Duration { return time.Since(r.start) }

func (r *demoRun) phaseLine(i int) {
	p := demoPhases[i]
	prefix := ""
	if r.env.tty {
		prefix = "\r" + strings.Repeat(" ", 110) + "\r"
	}
	fmt.Fprintf(r.out, "%s[%5.1fs] phase %-9s upstream answers %s\n", prefix, r.since().Seconds(), p.name, p.long)
}

func (r *demoRun) progressLine(host *devhost.Host) {
	if !r.env.tty {
		return
	}
	state := breakerState(host)
	i := r.phase.Load()
	fmt.Fprintf(r.out, "\r[%5.1fs] %-9s  sent %5d  answered %5d  admitted %5d  rejected %5d  upstream %5d  breaker %-9s",
		r.since().Seconds(), demoPhases[i].name, r.sent.Load(), r.done.Load(), r.admitted.Load(), r.rejected.Load(),
		r.upstreamTotal(), state)
}

func (r *demoRun) upstreamTotal() int64 {
	var n int64
	for _, s := range r.stats {
		n += s.upstream.Load()
	}
	return n
}

func breakerState(host *devhost.Host) string {
	v, ok := host.Metric(metricdef.Name(config.DefaultNamespace, metricdef.CircuitBreakerState, demoPolicy))
	if !ok {
		return "closed" // not moved yet
	}
	switch v {
	case 0:
		return "closed"
	case 1:
		return "open"
	case 2:
		return "half_open"
	}
	return "state(" + strconv.FormatUint(v, 10) + ")"
}

// hostSnapshot is the host counters read at a phase boundary.
type hostSnapshot struct {
	transitions, retries, budgetExhausted, limitedPerUser, limitedGlobal uint64
	state                                                                string
}

func (r *demoRun) snapshot(host *devhost.Host) hostSnapshot {
	m := func(family string, labels ...string) uint64 {
		v, _ := host.Metric(metricdef.Name(config.DefaultNamespace, family, demoPolicy, labels...))
		return v
	}
	return hostSnapshot{
		transitions: m(metricdef.CircuitBreakerTransitionsTotal, metricdef.LabelTo, "closed") +
			m(metricdef.CircuitBreakerTransitionsTotal, metricdef.LabelTo, "open") +
			m(metricdef.CircuitBreakerTransitionsTotal, metricdef.LabelTo, "half_open"),
		retries:         host.Stats().Retries,
		budgetExhausted: m(metricdef.RetryBudgetExhaustedTotal),
		limitedPerUser:  m(metricdef.RateLimitLimitedTotal, metricdef.LabelLimit, "per_user"),
		limitedGlobal:   m(metricdef.RateLimitLimitedTotal, metricdef.LabelLimit, "global"),
		state:           breakerState(host),
	}
}

func (r *demoRun) fill(st *phaseStats, a, b hostSnapshot) {
	st.transitions = b.transitions - a.transitions
	st.retries = b.retries - a.retries
	st.budgetExhausted = b.budgetExhausted - a.budgetExhausted
	st.limitedPerUser = b.limitedPerUser - a.limitedPerUser
	st.limitedGlobal = b.limitedGlobal - a.limitedGlobal
	st.stateEnd = b.state
}

// record files one answered request under the phase it was sent in.
func (r *demoRun) record(phase int, user string, lat time.Duration, status int, reason string, err error) {
	r.done.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.stats[phase]
	st.requests++
	switch {
	case err != nil:
		st.errors++
		return
	case reason != "":
		st.reasons[reason]++
		r.rejected.Add(1)
	case status >= 200 && status < 300:
		st.admitted++
		r.admitted.Add(1)
	default:
		st.other[status]++
	}
	if user == "mallory" && (reason == "" || reason == "upstream_failure") {
		r.malloryPassed.Add(1)
	}
	st.latencies = append(st.latencies, lat)
}

// ---------------------------------------------------------------------------
// the upstream

type demoUpstream struct {
	r        *demoRun
	inflight *atomic.Int64
	seq      atomic.Uint64
	// gate, while set, holds the bulkhead step's requests (demoHeldPath)
	gate atomic.Pointer[demoGate]
}

func (u *demoUpstream) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	i := u.r.phase.Load()
	if strings.HasPrefix(req.URL.Path, "/checkout") {
		u.r.dl.upstream(w, req, i) // not in the timeline's counts
		return
	}
	if g := u.gate.Load(); g != nil && strings.HasPrefix(req.URL.Path, demoHeldPath) {
		g.serve(w, req) // the bulkhead step: not in the timeline's counts
		return
	}
	st := u.r.stats[i]
	st.upstream.Add(1)
	n := u.inflight.Add(1)
	for {
		p := st.peak.Load()
		if n <= p || st.peak.CompareAndSwap(p, n) {
			break
		}
	}
	status, delay := http.StatusOK, time.Duration(0)
	switch i {
	case phaseHealthy, phaseRecovered:
		// 10..25ms, deterministic spread
		delay = 10*time.Millisecond + time.Duration(u.seq.Add(7919)%16)*time.Millisecond
	case phaseFailing:
		status, delay = http.StatusServiceUnavailable, time.Millisecond
	case phaseSlow:
		delay = demoSlowLatency
	}
	t := time.NewTimer(delay)
	select {
	case <-t.C:
	case <-req.Context().Done():
		t.Stop()
	}
	// Leave the in-flight count before answering: the proxy cannot end the
	// stream (and free a bulkhead slot) before the answer is written, so the
	// peak is never over the true concurrency.
	u.inflight.Add(-1)
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"phase\":%q}\n", demoPhases[i].name)
}

// ---------------------------------------------------------------------------
// the load

type demoLoad struct {
	r      *demoRun
	client *http.Client
	url    string
	sem    chan struct{}
	wg     sync.WaitGroup // request goroutines
	gens   sync.WaitGroup // generators
	seq    atomic.Uint64
	// pause is read-held by every request of the load while it runs; a
	// step write-holds it: the requests in flight finish first, and the
	// generators skip their requests until the step is over.
	pause   sync.RWMutex
	skipped atomic.Int64
}

// start runs one open-loop generator per user (requests leave on schedule
// whatever the answers take) and one burst generator.
func (l *demoLoad) start(ctx context.Context) {
	for k, u := range demoUsers {
		l.gens.Add(1)
		go func() {
			defer l.gens.Done()
			rng := rand.New(rand.NewPCG(uint64(k)+1, 42))
			interval := float64(time.Second) / u.rps
			next := time.Now()
			for {
				// exponential inter-arrival times: Poisson arrivals
				next = next.Add(time.Duration(interval * rng.ExpFloat64()))
				if !sleepUntil(ctx, next) {
					return
				}
				l.fire(ctx, u.id)
			}
		}()
	}
	l.gens.Add(1)
	go func() {
		defer l.gens.Done()
		next := time.Now()
		for n := 0; ; n++ {
			next = next.Add(l.r.burstPeriod())
			if !sleepUntil(ctx, next.Add(-l.r.burstPeriod()/2)) {
				return
			}
			for j := 0; j < demoBurstSize; j++ {
				l.fire(ctx, fmt.Sprintf("crowd-%d-%d", n, j))
			}
		}
	}()
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (l *demoLoad) fire(ctx context.Context, user string) {
	if !l.pause.TryRLock() {
		l.skipped.Add(1) // a step runs: the load holds off
		return
	}
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		l.pause.RUnlock()
		return
	}
	l.r.sent.Add(1)
	phase := int(l.r.phase.Load())
	path := "/api/orders/" + strconv.FormatUint(l.seq.Add(1)%1000, 10)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.pause.RUnlock()
		defer func() { <-l.sem }()
		req, _ := http.NewRequest(http.MethodGet, l.url+path, nil)
		req.Header.Set("x-user-id", user)
		t0 := time.Now()
		resp, err := l.client.Do(req)
		if err != nil {
			l.r.record(phase, user, time.Since(t0), 0, "", err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		l.r.record(phase, user, time.Since(t0), resp.StatusCode, resp.Header.Get("x-breakwater-reason"), nil)
	}()
}

// wait lets the generators stop and the requests in flight finish (bounded).
func (l *demoLoad) wait(max time.Duration) {
	l.gens.Wait()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(max):
	}
}

// ---------------------------------------------------------------------------
// the plugin's log lines

// demoLogs receives the dev host's log lines: breaker transitions become
// events; warnings and errors are kept for the report.
type demoLogs struct {
	r *demoRun
}

var transitionLine = regexp.MustCompile(`circuit_breaker: policy=\S+ key="[^"]*" from=(\S+) to=(\S+) failure_rate=(\S+) slow_rate=(\S+) calls=(\d+)`)

func (d *demoLogs) Write(p []byte) (int, error) {
	// The host writes whole lines under its own lock.
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if m := transitionLine.FindStringSubmatch(line); m != nil {
			d.r.mu.Lock()
			at := time.Duration(0)
			if !d.r.start.IsZero() {
				at = d.r.since()
			}
			d.r.events = append(d.r.events, breakerEvent{at: at, phase: int(d.r.phase.Load()),
				from: m[1], to: m[2], failureRate: m[3], slowRate: m[4], calls: m[5]})
			d.r.mu.Unlock()
			continue
		}
		if strings.Contains(line, "][warning]") || strings.Contains(line, "][error]") || strings.Contains(line, "][critical]") {
			d.r.mu.Lock()
			d.r.notes = append(d.r.notes, line)
			d.r.mu.Unlock()
		}
	}
	return len(p), nil
}

// ---------------------------------------------------------------------------
// the report

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func fmtLatency(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// demoReasons are the rejection reasons, in the order of the table.
var demoReasons = []string{"rate_limited", "circuit_open", "bulkhead_full", "upstream_failure", "deadline_exceeded", "fault_abort"}

// report prints the timeline and the checks; it returns how many checks failed.
func (r *demoRun) report(w io.Writer, traps uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	const label = "%-30s"
	row := func(name string, cell func(i int, st *phaseStats) string, total string) {
		fmt.Fprintf(w, label, name)
		for i, st := range r.stats {
			fmt.Fprintf(w, " %12s", cell(i, st))
		}
		fmt.Fprintf(w, " %12s\n", total)
	}
	num := func(f func(st *phaseStats) int) (func(int, *phaseStats) string, string) {
		t := 0
		for _, st := range r.stats {
			t += f(st)
		}
		return func(_ int, st *phaseStats) string { return strconv.Itoa(f(st)) }, strconv.Itoa(t)
	}
	numRow := func(name string, f func(st *phaseStats) int) {
		c, t := num(f)
		row(name, c, t)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "timeline")
	row("phase", func(i int, _ *phaseStats) string { return demoPhases[i].name }, "total")
	row("time", func(_ int, st *phaseStats) string {
		return fmt.Sprintf("%.1f-%.1fs", st.from.Seconds(), st.to.Seconds())
	}, fmt.Sprintf("%.1fs", r.stats[len(r.stats)-1].to.Seconds()))
	row("upstream behaviour", func(i int, _ *phaseStats) string { return demoPhases[i].what }, "")
	numRow("requests", func(st *phaseStats) int { return st.requests })
	numRow("admitted (2xx)", func(st *phaseStats) int { return st.admitted })
	seen := map[string]bool{}
	for _, st := range r.stats {
		for k := range st.reasons {
			seen[k] = true
		}
	}
	for _, reason := range demoReasons {
		if !seen[reason] && reason != "rate_limited" && reason != "circuit_open" && reason != "bulkhead_full" {
			continue
		}
		numRow("rejected "+reason, func(st *phaseStats) int { return st.reasons[reason] })
		if reason == "rate_limited" {
			numRow("  by limit per_user", func(st *phaseStats) int { return int(st.limitedPerUser) })
			numRow("  by limit global", func(st *phaseStats) int { return int(st.limitedGlobal) })
		}
	}
	var unknown []string
	for k := range seen {
		if !contains(demoReasons, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, reason := range unknown {
		numRow("rejected "+reason, func(st *phaseStats) int { return st.reasons[reason] })
	}
	numRow("other answers (no reason)", func(st *phaseStats) int {
		n := 0
		for _, c := range st.other {
			n += c
		}
		return n
	})
	numRow("client errors", func(st *phaseStats) int { return st.errors })
	all := []time.Duration{}
	for _, st := range r.stats {
		sort.Slice(st.latencies, func(a, b int) bool { return st.latencies[a] < st.latencies[b] })
		all = append(all, st.latencies...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	row("latency p50", func(_ int, st *phaseStats) string { return fmtLatency(percentile(st.latencies, 0.5)) }, fmtLatency(percentile(all, 0.5)))
	row("latency p99", func(_ int, st *phaseStats) string { return fmtLatency(percentile(st.latencies, 0.99)) }, fmtLatency(percentile(all, 0.99)))
	numRow("upstream load (requests)", func(st *phaseStats) int { return int(st.upstream.Load()) })
	peak := int64(0)
	for _, st := range r.stats {
		peak = max(peak, st.peak.Load())
	}
	row("upstream peak concurrency", func(_ int, st *phaseStats) string { return strconv.FormatInt(st.peak.Load(), 10) }, strconv.FormatInt(peak, 10))
	numRow("retries (router)", func(st *phaseStats) int { return int(st.retries) })
	numRow("denied retries (budget)", func(st *phaseStats) int { return int(st.budgetExhausted) })
	numRow("breaker transitions", func(st *phaseStats) int { return int(st.transitions) })
	for _, to := range []string{"open", "half_open", "closed"} {
		numRow("  to "+to, func(st *phaseStats) int {
			n := 0
			for _, e := range r.events {
				if e.to == to && r.stats[e.phase] == st {
					n++
				}
			}
			return n
		})
	}
	row("breaker at end of phase", func(_ int, st *phaseStats) string { return st.stateEnd }, "")
	if r.skipped != nil && r.skipped.Load() > 0 {
		fmt.Fprintf(w, "\n(the load held off %d requests while the steps of the phases ran)\n", r.skipped.Load())
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "breaker transitions (plugin log)")
	if len(r.events) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, e := range r.events {
		fmt.Fprintf(w, "  %6.2fs %-9s %s -> %s (failure rate %s, slow rate %s, %s calls)\n",
			e.at.Seconds(), demoPhases[e.phase].name, e.from, e.to, e.failureRate, e.slowRate, e.calls)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "what it shows")
	failed := 0
	check := func(ok bool, format string, args ...any) {
		mark := "[ok]"
		if !ok {
			mark = "[!!]"
			failed++
		}
		fmt.Fprintf(w, "  %s %s\n", mark, fmt.Sprintf(format, args...))
	}
	fail := r.stats[phaseFailing]
	openedInFailing, closedAt := 0, time.Duration(-1)
	for _, e := range r.events {
		if e.to == "open" && e.phase == phaseFailing {
			openedInFailing++
		}
		if e.to == "closed" && e.phase == phaseRecovered && closedAt < 0 {
			closedAt = e.at
		}
	}
	op, cl := r.opening, r.closing
	check(openedInFailing > 0 && op.shed == demoShedProbes && op.shedUpstream == 0 && len(op.other) == 0,
		"breaker opened %d time(s) in the failing phase; step (clock held): %d failed, then %d of %d rejected circuit_open, %d of them reached the upstream%s; the upstream got %d requests of the %d sent in the phase",
		openedInFailing, op.failed, op.shed, demoShedProbes, op.shedUpstream, others(op.other), fail.upstream.Load(), fail.requests)
	check(cl.after == "closed" && (closedAt >= 0 || cl.before == "closed") && cl.ok == cl.probes,
		"breaker closed again in the recovered phase (at %.2fs); step (clock held, moved on %v): it was %s, %d requests answered 200 of %d%s",
		closedAt.Seconds(), cl.advanced, cl.before, cl.ok, cl.probes, others(cl.other))
	if end := r.stats[phaseRecovered].stateEnd; end != "closed" {
		// The real-time load decides this: not a check.
		fmt.Fprintf(w, "  [--] the breaker was %s at the end of the recovered phase: on this machine, calls under the load took longer than slow_call_duration (%v)\n", end, demoSlowCall)
	}
	rl, bf := 0, 0
	for _, st := range r.stats {
		rl += st.reasons["rate_limited"]
		bf += st.reasons["bulkhead_full"]
	}
	check(r.burstAdmitted == demoPerUserRPS && r.burstLimited == demoBurstStep-demoPerUserRPS && r.burstOther == 0,
		"per-user limit, clock held still: mallory's %d back-to-back requests: %d admitted (the burst, %d), %d rejected rate_limited, %d other",
		demoBurstStep, r.burstAdmitted, demoPerUserRPS, r.burstLimited, r.burstOther)
	// A token bucket admits at most burst + rate x time: the time that
	// passed on the plugin's clock during the load (the wall time, less the
	// steps' holds, plus what they moved it on), however slow the machine was.
	load := r.pluginLoadTime
	bound := int64(demoPerUserRPS*load.Seconds()) + demoPerUserRPS
	check(r.malloryPassed.Load() <= bound, "rate limit held: %d requests limited; mallory got %d requests past the filter in %.1fs of plugin time (limit %d/s + burst %d = %d)",
		rl, r.malloryPassed.Load(), load.Seconds(), demoPerUserRPS, demoPerUserRPS, bound)
	bh := r.bh
	last := bh.last.String()
	if bh.why != "" {
		last = bh.why
	}
	check(bh.ok, "bulkhead, upstream held, clock held: %d requests hold the %d slots, %d wait in the queue (max_size %d); the next one: %s; %d served once the upstream answered, %d other (attempt %d)",
		bh.held, demoMaxConcurrent, bh.queued, demoQueue, last, bh.served, bh.other, bh.attempts)
	check(peak <= demoMaxConcurrent && bh.peak <= demoMaxConcurrent, "bulkhead held under the load: %d requests turned away; the upstream never saw more than %d at once (max_concurrent %d)",
		bf, max(peak, bh.peak), demoMaxConcurrent)
	check(r.active == 0 && r.queued == 0, "bulkhead gave every slot back: %d active, %d queued once the load was over", r.active, r.queued)
	if traps > 0 {
		check(false, "the plugin trapped %d times", traps)
	}
	if len(r.notes) > 0 {
		fmt.Fprintf(w, "\nplugin warnings and errors (%d):\n", len(r.notes))
		for i, n := range r.notes {
			if i == 10 {
				fmt.Fprintf(w, "  ... %d more\n", len(r.notes)-10)
				break
			}
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	return failed
}

// others lists unexpected answers of a step ("" when none).
func others(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return " (unexpected: " + strings.Join(list, ", ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
