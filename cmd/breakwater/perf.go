package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/wasmcount"
)

const perfUsage = `usage: breakwater perf --wasm FILE [--config FILE] [--name NAME] [--workers N]
                       [--requests N] [--warmup N] [--users N] [--json] [--profile N]
       breakwater perf --suite DIR [--requests N] [--warmup N]

Measures the guest work of any proxy-wasm plugin per request, deterministically:
the module is instrumented (an instruction counter per straight-line segment, a
memory.grow counter), run in the dev host with a manual clock and fixed seeds, and
driven with a fixed request mix (GET /api/orders, x-user-id one of 100 users (--users), a
200 "ok" upstream answered in-process), serially: request i goes to worker i mod N,
and the clock moves 1ms/N after each request (each VM sees one request per ms).
--warmup requests per worker run first and are not counted; then --requests per
worker are measured. Two identical runs print identical figures. A request the
plugin pauses (shaping, queues, fault delays) moves the clock 1ms at a time
until the plugin resumes it (deterministic with 1 worker; with several, ticks of
other VMs may interleave with the resumed request).

Reported per measured request: wasm instructions (total and per callback:
request_headers = context create + request headers/body, response_headers =
response headers/body, stream_end = log + done + delete, tick = proxy_on_tick
amortised), host calls by function, shared-data gets and sets, re-entrant
allocations (proxy_on_memory_allocate calls the host makes during host calls),
memory.grow executed (these four count the ticks too, amortised over the
requests; the tick_* fields give the part made outside streams), guest heap
objects and bytes allocated, ticks included (null unless the module exports
go_heap_allocs(kind i32) i64: kind 0 objects, 1 bytes, cumulative).

--profile N also counts each function's own instructions and lists the N
largest per request (names come from the module's name section: the release
build strips it; build one with names by LDFLAGS= scripts/build-wasm.sh DIR/x.wasm).

--suite DIR runs DIR/dist/{noop,floor,breakwater}.wasm (breakwater with
DIR/bench/full.json and each DIR/bench/perf/*.json pattern policy) with 1 and 4
workers, prints a table and writes DIR/dist/perf.json ({"runs":[...]}).
`

// perfResult is one run of `breakwater perf` (the --json object).
type perfResult struct {
	Name     string `json:"name"`
	Workers  int    `json:"workers"`
	Requests int    `json:"requests"`

	InstructionsPerRequest   float64            `json:"instructions_per_request"`
	InstructionsByCallback   map[string]float64 `json:"instructions_per_request_by_callback"`
	HostCallsPerRequest      float64            `json:"host_calls_per_request"`
	HostCallsByFunction      map[string]float64 `json:"host_calls_per_request_by_function"`
	SharedDataOpsPerRequest  float64            `json:"shared_data_ops_per_request"`
	SharedDataGetsPerRequest float64            `json:"shared_data_gets_per_request"`
	SharedDataSetsPerRequest float64            `json:"shared_data_sets_per_request"`
	ReentrantAllocsPerReq    float64            `json:"reentrant_allocs_per_request"`
	HeapObjectsPerRequest    *float64           `json:"heap_objects_per_request"`
	HeapBytesPerRequest      *float64           `json:"heap_bytes_per_request"`
	MemoryGrowsPerRequest    float64            `json:"memory_grows_per_request"`

	TickHostCallsPerRequest     float64            `json:"tick_host_calls_per_request"`
	TickHostCallsByFunction     map[string]float64 `json:"tick_host_calls_per_request_by_function"`
	TickSharedDataOpsPerRequest float64            `json:"tick_shared_data_ops_per_request"`
	TickReentrantAllocsPerReq   float64            `json:"tick_reentrant_allocs_per_request"`
	TickMemoryGrowsPerRequest   float64            `json:"tick_memory_grows_per_request"`
	TicksPerRequest             float64            `json:"ticks_per_request"`

	// Profile lists the functions with the most instructions of their own
	// per request (--profile N), most first.
	Profile []perfFunc `json:"profile,omitempty"`

	MemoryPages []uint32       `json:"memory_pages"`
	Statuses    map[string]int `json:"statuses"`
	WasmBytes   int            `json:"wasm_bytes"`
}

// perfFunc is one line of a profile.
type perfFunc struct {
	Index                  uint32  `json:"index"`
	Name                   string  `json:"name"`
	InstructionsPerRequest float64 `json:"instructions_per_request"`
	Share                  float64 `json:"share"`
}

// perfSpec is what one run measures.
type perfSpec struct {
	name     string
	wasm     []byte // not instrumented
	config   []byte
	workers  int
	requests int // measured, per worker
	warmup   int // per worker
	users    int // distinct x-user-id values (0: perfUsers)
	profile  int // functions to list (0: no per-function counters)
	cache    wazero.CompilationCache
}

// perfStart is where the manual clock starts: fixed, so that every run sees
// the same instants.
var perfStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// perfCache keeps the compiled instrumented modules for the process (the
// suite and the tests measure the same module several times).
var perfCache = wazero.NewCompilationCache()

// perfSeed seeds WASI random_get and the router's back-off jitter.
const perfSeed = 0x5eed

// perfUsers is the number of distinct x-user-id values of the request mix
// (make perf's; --users sets another).
const perfUsers = 100

// heapExport is the optional export that reports the Go heap's cumulative
// allocations (filter/internal/heapstats provides it).
const heapExport = "go_heap_allocs"

// fixedUpstream answers every request in-process: 200, one header, "ok".
type fixedUpstream struct{}

func (fixedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		Body:          io.NopCloser(strings.NewReader("ok")),
		ContentLength: 2, Request: r}, nil
}

// seededReader is a deterministic random_get source.
type seededReader struct{ r *rand.ChaCha8 }

func (s seededReader) Read(p []byte) (int, error) { return s.r.Read(p) }

// callbackGroup maps an export the host calls to the per-callback figure it counts in.
func callbackGroup(export string) string {
	switch export {
	case "proxy_on_context_create", "proxy_on_request_headers", "proxy_on_request_body", "proxy_on_request_trailers":
		return "request_headers"
	case "proxy_on_response_headers", "proxy_on_response_body", "proxy_on_response_trailers":
		return "response_headers"
	case "proxy_on_log", "proxy_on_done", "proxy_on_delete":
		return "stream_end"
	case "proxy_on_tick":
		return "tick"
	case heapExport:
		return "" // the measurement itself
	}
	return "other"
}

// measure runs one spec.
func measure(sp perfSpec) (*perfResult, error) {
	if sp.workers < 1 || sp.requests < 1 || sp.warmup < 0 {
		return nil, errors.New("breakwater: perf: --workers and --requests must be >= 1, --warmup >= 0")
	}
	var wasm []byte
	var funcs []wasmcount.Func
	var err error
	if sp.profile > 0 {
		wasm, funcs, err = wasmcount.InstrumentProfile(sp.wasm)
	} else {
		wasm, err = wasmcount.Instrument(sp.wasm)
	}
	if err != nil {
		return nil, err
	}
	clock := devhost.NewManualClock(perfStart)
	cache := sp.cache
	if cache == nil {
		cache = perfCache
	}
	h, err := devhost.New(devhost.Options{
		Wasm: wasm, PluginConfig: sp.config, Workers: sp.workers, Clock: clock,
		Rand:      seededReader{rand.NewChaCha8([32]byte{0: perfSeed & 0xff, 1: perfSeed >> 8})},
		RetrySeed: perfSeed, Transport: fixedUpstream{},
		Clusters:         map[string]string{"upstream": "http://upstream.invalid"},
		LogLevel:         devhost.LogError,
		CountGlobals:     []string{wasmcount.InstructionsGlobal, wasmcount.MemoryGrowsGlobal},
		CompilationCache: cache,
	})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	step := time.Millisecond / time.Duration(sp.workers)
	users := sp.users
	if users < 1 {
		users = perfUsers
	}
	statuses := map[string]int{}
	seq := 0
	serve := func(n int, count bool) error {
		for i := 0; i < n*sp.workers; i++ {
			req := httptest.NewRequest(http.MethodGet, "http://api.example/api/orders", nil)
			req.Header.Set("x-user-id", "user-"+strconv.Itoa(seq%users))
			req.Header.Set("x-request-id", fmt.Sprintf("00000000-0000-4000-8000-%012d", seq))
			seq++
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() { h.ServeHTTP(rec, req); close(done) }()
			if err := waitServed(h, clock, done); err != nil {
				return err
			}
			if count {
				statuses[strconv.Itoa(rec.Code)]++
			}
			clock.Advance(step)
		}
		if st := h.Stats(); st.Traps != 0 {
			return fmt.Errorf("breakwater: perf: %s: %d VM traps (logs: %s)", sp.name, st.Traps, lastLogs(h))
		}
		return nil
	}
	if err := serve(sp.warmup, false); err != nil {
		return nil, err
	}
	heap0, heapOK := heapTotals(h)
	h.ResetStats()
	prof0 := funcTotals(h, funcs)
	if err := serve(sp.requests, true); err != nil {
		return nil, err
	}
	prof1 := funcTotals(h, funcs)
	counted := h.Counted()
	st := h.Stats()
	heap1, _ := heapTotals(h)

	n := float64(sp.requests * sp.workers)
	per := func(v uint64) float64 { return float64(v) / n }
	r := &perfResult{Name: sp.name, Workers: sp.workers, Requests: sp.requests * sp.workers,
		InstructionsByCallback: map[string]float64{"request_headers": 0, "response_headers": 0, "stream_end": 0, "tick": 0, "other": 0},
		HostCallsByFunction:    map[string]float64{}, TickHostCallsByFunction: map[string]float64{},
		MemoryPages: h.MemoryPages(), Statuses: statuses, WasmBytes: len(sp.wasm)}
	var insns uint64
	for export, v := range counted[wasmcount.InstructionsGlobal] {
		g := callbackGroup(export)
		if g == "" {
			continue
		}
		insns += v
		r.InstructionsByCallback[g] += per(v)
	}
	r.InstructionsPerRequest = per(insns)
	// Host calls, shared-data operations, re-entrant allocations and
	// memory.grow count everything the VMs did in the measured window (the
	// ticks amortised over the requests); tick_* is the part outside streams.
	for export, v := range counted[wasmcount.MemoryGrowsGlobal] {
		switch g := callbackGroup(export); g {
		case "":
		case "tick", "other":
			r.TickMemoryGrowsPerRequest += per(v)
			r.MemoryGrowsPerRequest += per(v)
		default:
			r.MemoryGrowsPerRequest += per(v)
		}
	}
	r.HostCallsPerRequest = per(st.HostCalls)
	r.TickHostCallsPerRequest = per(st.HostCalls - st.RequestHostCalls)
	for f, v := range st.ByFunction {
		r.HostCallsByFunction[f] = per(v)
		if t := v - st.RequestByFunction[f]; t > 0 {
			r.TickHostCallsByFunction[f] = per(t)
		}
	}
	r.SharedDataGetsPerRequest = r.HostCallsByFunction["proxy_get_shared_data"]
	r.SharedDataSetsPerRequest = r.HostCallsByFunction["proxy_set_shared_data"]
	r.SharedDataOpsPerRequest = r.SharedDataGetsPerRequest + r.SharedDataSetsPerRequest
	r.TickSharedDataOpsPerRequest = r.TickHostCallsByFunction["proxy_get_shared_data"] + r.TickHostCallsByFunction["proxy_set_shared_data"]
	r.ReentrantAllocsPerReq = per(st.GuestAllocs)
	r.TickReentrantAllocsPerReq = per(st.GuestAllocs - st.RequestGuestAllocs)
	r.TicksPerRequest = per(st.Ticks)
	if heapOK {
		objs, bytes := per(heap1[0]-heap0[0]), per(heap1[1]-heap0[1])
		r.HeapObjectsPerRequest, r.HeapBytesPerRequest = &objs, &bytes
	}
	if sp.profile > 0 {
		for i, f := range funcs {
			if d := prof1[i] - prof0[i]; d > 0 {
				r.Profile = append(r.Profile, perfFunc{Index: f.Index, Name: f.Name, InstructionsPerRequest: per(d)})
			}
		}
		sort.SliceStable(r.Profile, func(i, j int) bool {
			return r.Profile[i].InstructionsPerRequest > r.Profile[j].InstructionsPerRequest
		})
		if len(r.Profile) > sp.profile {
			r.Profile = r.Profile[:sp.profile]
		}
		for i := range r.Profile {
			if r.InstructionsPerRequest > 0 {
				r.Profile[i].Share = r.Profile[i].InstructionsPerRequest / r.InstructionsPerRequest
			}
		}
	}
	return r, nil
}

// funcTotals sums each per-function counter over the VMs (nil without a profile).
func funcTotals(h *devhost.Host, funcs []wasmcount.Func) []uint64 {
	if len(funcs) == 0 {
		return nil
	}
	out := make([]uint64, len(funcs))
	for w := 0; w < h.Workers(); w++ {
		for i, f := range funcs {
			v, _ := h.Global(w, f.Global)
			out[i] += v
		}
	}
	return out
}

// maxPause bounds how long (plugin time) one request may stay paused.
const maxPause = 10 * time.Minute

// waitServed waits until done is closed. While the plugin holds the
// request paused (a shaping delay, a queue, a fault delay: PausedStreams >
// 0), the manual clock moves 1ms at a time so that the plugin's tick can
// resume it. Time moves only while the request provably waits for the
// plugin, so with 1 worker the figures stay deterministic; with several, a
// resumed request may run while other VMs' ticks of the same Advance still
// run, and the counts of a plugin that pauses can vary slightly between runs.
func waitServed(h *devhost.Host, clock *devhost.ManualClock, done <-chan struct{}) error {
	select {
	case <-done:
		return nil
	default:
	}
	poll := time.NewTicker(100 * time.Microsecond)
	defer poll.Stop()
	var moved time.Duration
	for {
		select {
		case <-done:
			return nil
		case <-poll.C:
			if h.PausedStreams() == 0 {
				continue
			}
			if moved >= maxPause {
				<-done
				return fmt.Errorf("breakwater: perf: a request stayed paused for %v of plugin time", maxPause)
			}
			clock.Advance(time.Millisecond)
			moved += time.Millisecond
		}
	}
}

// heapTotals sums go_heap_allocs over the VMs: [objects, bytes]; ok is false
// when the module does not export it.
func heapTotals(h *devhost.Host) (tot [2]uint64, ok bool) {
	for w := 0; w < h.Workers(); w++ {
		for k := range tot {
			v, found, err := h.CallExport(w, heapExport, uint64(k))
			if !found || err != nil || int64(v) < 0 {
				return tot, false
			}
			tot[k] += v
		}
	}
	return tot, true
}

func lastLogs(h *devhost.Host) string {
	logs := h.Logs()
	if len(logs) > 5 {
		logs = logs[len(logs)-5:]
	}
	var b strings.Builder
	for _, l := range logs {
		b.WriteString(l.Message)
		b.WriteString("; ")
	}
	return b.String()
}

func runPerf(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("perf", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, perfUsage) }
	wasmPath := fs.String("wasm", "", "the plugin (.wasm)")
	cfgPath := fs.String("config", "", "the plugin configuration (may be empty or absent)")
	name := fs.String("name", "", "the run's name (default: the .wasm file name without extension)")
	workers := fs.Int("workers", 1, "worker VMs")
	requests := fs.Int("requests", 1000, "measured requests per worker")
	warmup := fs.Int("warmup", 200, "warm-up requests per worker (not measured)")
	users := fs.Int("users", perfUsers, "distinct x-user-id values of the request mix (user-0, user-1, ...)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	profile := fs.Int("profile", 0, "also list the N functions with the most instructions of their own per request")
	suite := fs.String("suite", "", "run the make perf suite of the repository at DIR")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 0 || (*suite == "") == (*wasmPath == "") || *users < 1 {
		fs.Usage()
		return exitUsage
	}
	if *suite != "" {
		return runPerfSuite(*suite, *requests, *warmup, stdout, stderr)
	}
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: perf: %v\n", err)
		return exitInvalid
	}
	var cfg []byte
	if *cfgPath != "" {
		if cfg, err = os.ReadFile(*cfgPath); err != nil {
			fmt.Fprintf(stderr, "breakwater: perf: %v\n", err)
			return exitInvalid
		}
	}
	if *name == "" {
		*name = strings.TrimSuffix(filepath.Base(*wasmPath), filepath.Ext(*wasmPath))
	}
	r, err := measure(perfSpec{name: *name, wasm: wasm, config: cfg, workers: *workers, requests: *requests,
		warmup: *warmup, users: *users, profile: *profile})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	if *asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return exitOK
	}
	printPerfTable(stdout, []*perfResult{r})
	if len(r.Profile) > 0 {
		fmt.Fprintf(stdout, "\n%10s %6s  %s\n", "insns/req", "share", "function (own instructions)")
		for _, f := range r.Profile {
			name := f.Name
			if name == "" {
				name = fmt.Sprintf("func[%d] (no name section: build with LDFLAGS= scripts/build-wasm.sh)", f.Index)
			}
			fmt.Fprintf(stdout, "%10.0f %5.1f%%  %s\n", f.InstructionsPerRequest, 100*f.Share, name)
		}
	}
	return exitOK
}

// perfSuiteRun is one line of the make perf suite.
type perfSuiteRun struct{ name, wasm, config string }

// perfSuite lists the suite's runs in table order: the floors, each pattern
// alone (bench/perf/NAME.json), the full policy.
func perfSuite(dir string) ([]perfSuiteRun, error) {
	runs := []perfSuiteRun{{"noop", "dist/noop.wasm", ""}, {"floor", "dist/floor.wasm", ""}}
	pats, err := filepath.Glob(filepath.Join(dir, "bench", "perf", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(pats) == 0 {
		return nil, fmt.Errorf("breakwater: perf: no pattern policies in %s", filepath.Join(dir, "bench", "perf"))
	}
	sort.Strings(pats)
	for _, p := range pats {
		rel, _ := filepath.Rel(dir, p)
		runs = append(runs, perfSuiteRun{strings.TrimSuffix(filepath.Base(p), ".json"), "dist/breakwater.wasm", rel})
	}
	return append(runs, perfSuiteRun{"full", "dist/breakwater.wasm", "bench/full.json"}), nil
}

func runPerfSuite(dir string, requests, warmup int, stdout, stderr io.Writer) int {
	runs, err := perfSuite(dir)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitInvalid
	}
	var results []*perfResult
	for _, workers := range []int{1, 4} {
		for _, run := range runs {
			wasm, err := os.ReadFile(filepath.Join(dir, run.wasm))
			if err != nil {
				fmt.Fprintf(stderr, "breakwater: perf: %v (run make build)\n", err)
				return exitInvalid
			}
			var cfg []byte
			if run.config != "" {
				if cfg, err = os.ReadFile(filepath.Join(dir, run.config)); err != nil {
					fmt.Fprintf(stderr, "breakwater: perf: %v\n", err)
					return exitInvalid
				}
			}
			r, err := measure(perfSpec{name: run.name, wasm: wasm, config: cfg, workers: workers,
				requests: requests, warmup: warmup})
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitInvalid
			}
			results = append(results, r)
		}
	}
	printPerfTable(stdout, results)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.Encode(struct {
		Runs []*perfResult `json:"runs"`
	}{results})
	out := filepath.Join(dir, "dist", "perf.json")
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "breakwater: perf: %v\n", err)
		return exitInvalid
	}
	fmt.Fprintf(stdout, "wrote %s\n", out)
	return exitOK
}

// printPerfTable prints one line per result.
func printPerfTable(w io.Writer, rs []*perfResult) {
	fmt.Fprintf(w, "%-16s %2s %10s %8s %8s %8s %8s %6s %6s %6s %7s %7s %5s\n",
		"name", "w", "insns/req", "req_hdr", "resp_hdr", "end", "tick", "calls", "shared", "allocs", "heapobj", "heapB", "grow")
	for _, r := range rs {
		c := r.InstructionsByCallback
		fmt.Fprintf(w, "%-16s %2d %10.0f %8.0f %8.0f %8.0f %8.0f %6.2f %6.2f %6.2f %7s %7s %5.2f\n",
			r.Name, r.Workers, r.InstructionsPerRequest, c["request_headers"], c["response_headers"], c["stream_end"], c["tick"],
			r.HostCallsPerRequest, r.SharedDataOpsPerRequest, r.ReentrantAllocsPerReq,
			optFloat(r.HeapObjectsPerRequest, 1), optFloat(r.HeapBytesPerRequest, 0), r.MemoryGrowsPerRequest)
	}
}

func optFloat(v *float64, prec int) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', prec, 64)
}
