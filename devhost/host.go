package devhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Host runs one plugin in N worker VMs and serves HTTP through it. See the
// package documentation for the semantics it reproduces.
type Host struct {
	opts     Options
	clusters map[string]*url.URL
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	imports  []Import
	workers  []*worker
	rr       atomic.Uint64

	shared  *sharedData
	queues  *sharedQueues
	metrics *metricRegistry
	logs    *logStore

	transport http.RoundTripper
	baseCtx   context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	epoch     time.Time
	rand      io.Reader

	cfgMu        sync.Mutex // serialises Reconfigure
	pluginConfig atomic.Pointer[[]byte]

	instSeq atomic.Uint64
	connSeq atomic.Uint64

	retryMu     sync.Mutex
	retryRand   *rand.Rand
	retryActive map[string]int

	counters hostCounters

	countedMu sync.Mutex
	counted   map[string]map[string]uint64 // CountGlobals: global -> export -> sum
}

// hostCounters are the host-wide counters behind Stats.
type hostCounters struct {
	requests      atomic.Uint64
	traps         atomic.Uint64
	replacements  atomic.Uint64
	attempts      atomic.Uint64
	retries       atomic.Uint64
	retryOverflow atomic.Uint64
	callouts      atomic.Uint64
	localReplies  atomic.Uint64
	pollOneoff    atomic.Uint64
	guestAllocs   atomic.Uint64
	reqAllocs     atomic.Uint64
	resets        atomic.Uint64
	ticks         atomic.Uint64
	queueReady    atomic.Uint64
}

// worker is one Envoy worker thread: one VM at a time (replaced after a
// trap), every call into it serialised by mu.
type worker struct {
	h      *Host
	idx    int
	mu     sync.Mutex
	inst   *instance // nil when the VM could not be re-created
	events chan func()
	// lastFailure is when re-creating the VM last failed (retried at most
	// once a second).
	lastFailure time.Time
	// host calls per function (index in hostFuncs), [0] during HTTP stream
	// callbacks, [1] otherwise.
	calls [2][]atomic.Uint64
}

// Import is one function the module imports.
type Import struct {
	Module, Name string
}

// New compiles the module once and starts opts.Workers VMs, each initialised
// the way Envoy does: _initialize, proxy_on_context_create(root, 0),
// proxy_on_vm_start(root, vm config size), proxy_on_configure(root, plugin
// config size). A VM whose start or configure returns false makes New fail
// with the plugin's error/critical log lines in the error.
func New(opts Options) (*Host, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tags, err := compileStatsTags(o.StatsTags)
	if err != nil {
		return nil, err
	}
	h := &Host{
		opts:        o,
		clusters:    map[string]*url.URL{},
		shared:      newSharedData(),
		queues:      newSharedQueues(),
		metrics:     newMetricRegistry(tags),
		logs:        &logStore{max: o.MaxLogEntries, w: o.LogWriter},
		done:        make(chan struct{}),
		epoch:       o.Clock.Now(),
		rand:        &lockedReader{r: o.Rand},
		retryActive: map[string]int{},
		counted:     map[string]map[string]uint64{},
	}
	for name, raw := range o.Clusters {
		u, _ := url.Parse(raw) // validated by withDefaults
		h.clusters[name] = u
	}
	seed := o.RetrySeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	h.retryRand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h.transport = o.Transport
	if h.transport == nil {
		h.transport = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
		}
	}
	cfg := append([]byte(nil), o.PluginConfig...)
	h.pluginConfig.Store(&cfg)
	h.baseCtx, h.cancel = context.WithCancel(context.Background())

	rc := wazero.NewRuntimeConfig()
	if o.CompilationCache != nil {
		rc = rc.WithCompilationCache(o.CompilationCache)
	}
	h.rt = wazero.NewRuntimeWithConfig(h.baseCtx, rc)
	if err := h.instantiateWASI(); err != nil {
		h.rt.Close(h.baseCtx)
		return nil, fmt.Errorf("devhost: wasi: %w", err)
	}
	if err := h.instantiateEnv(); err != nil {
		h.rt.Close(h.baseCtx)
		return nil, fmt.Errorf("devhost: env host module: %w", err)
	}
	h.compiled, err = h.rt.CompileModule(h.baseCtx, o.Wasm)
	if err != nil {
		h.rt.Close(h.baseCtx)
		return nil, fmt.Errorf("devhost: compile: %w", err)
	}
	for _, d := range h.compiled.ImportedFunctions() {
		m, n, _ := d.Import()
		h.imports = append(h.imports, Import{m, n})
	}
	sort.Slice(h.imports, func(i, j int) bool {
		if h.imports[i].Module != h.imports[j].Module {
			return h.imports[i].Module < h.imports[j].Module
		}
		return h.imports[i].Name < h.imports[j].Name
	})
	for i := 0; i < o.Workers; i++ {
		w := &worker{h: h, idx: i, events: make(chan func(), 1024)}
		w.calls[0] = make([]atomic.Uint64, len(hostFuncs))
		w.calls[1] = make([]atomic.Uint64, len(hostFuncs))
		h.workers = append(h.workers, w)
		h.wg.Add(1)
		go w.dispatch()
	}
	for _, w := range h.workers {
		w.mu.Lock()
		inst, err := h.newInstance(w, cfg)
		if err == nil {
			w.inst = inst
		}
		w.mu.Unlock()
		if err != nil {
			h.Close()
			return nil, err
		}
	}
	return h, nil
}

// lockedReader makes a caller's io.Reader safe for the VMs' concurrent random_get.
type lockedReader struct {
	mu sync.Mutex
	r  io.Reader
}

func (l *lockedReader) Read(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Read(p)
}

// Close stops ticks and async work, cancels callouts and closes every VM.
// In-flight requests finish with errors. Safe to call twice.
func (h *Host) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		h.cancel()
		for _, w := range h.workers {
			w.mu.Lock()
			if w.inst != nil {
				w.inst.kill()
			}
			w.inst = nil
			w.mu.Unlock()
		}
		h.wg.Wait()
		h.rt.Close(context.Background())
		if t, ok := h.transport.(*http.Transport); ok && h.opts.Transport == nil {
			t.CloseIdleConnections()
		}
	})
	return nil
}

// dispatch runs the worker's asynchronous events (queue ready, callout
// responses) one at a time, in order, like an Envoy worker's dispatcher.
func (w *worker) dispatch() {
	defer w.h.wg.Done()
	for {
		select {
		case f := <-w.events:
			f()
		case <-w.h.done:
			return
		}
	}
}

// post schedules f on the worker's dispatcher without ever blocking the caller.
func (w *worker) post(f func()) {
	select {
	case w.events <- f:
	default:
		go func() {
			select {
			case w.events <- f:
			case <-w.h.done:
			}
		}()
	}
}

// Imports lists every function the module imports, sorted.
func (h *Host) Imports() []Import { return append([]Import(nil), h.imports...) }

// WASIImports lists the wasi_snapshot_preview1 functions the module imports.
func (h *Host) WASIImports() []string {
	var out []string
	for _, im := range h.imports {
		if im.Module == "wasi_snapshot_preview1" {
			out = append(out, im.Name)
		}
	}
	return out
}

// Workers is the number of worker VMs.
func (h *Host) Workers() int { return len(h.workers) }

// MemoryPages returns each VM's linear memory size in 64 KiB pages (0 for a
// worker whose VM could not be re-created).
func (h *Host) MemoryPages() []uint32 {
	out := make([]uint32, len(h.workers))
	for i, w := range h.workers {
		w.mu.Lock()
		if w.inst != nil && !w.inst.dead {
			out[i] = w.inst.mod.Memory().Size() / 65536
		}
		w.mu.Unlock()
	}
	return out
}

// Logs returns the retained log lines, oldest first.
func (h *Host) Logs() []LogEntry { return h.logs.snapshot() }

// SharedData returns a shared-data entry of the host's vm_id, as a plugin
// would see it.
func (h *Host) SharedData(key string) (value []byte, cas uint32, ok bool) {
	v, c, st := h.shared.get(h.opts.VMID, []byte(key))
	return v, c, st == StatusOK
}

// SharedDataSize returns the number of shared-data keys and their total bytes
// (keys plus values), across vm_ids.
func (h *Host) SharedDataSize() (keys, bytes int) { return h.shared.stats() }

// Metrics returns a snapshot of the plugin-defined stats, sorted by name.
func (h *Host) Metrics() []MetricValue { return h.metrics.snapshot() }

// Metric returns the current value of a counter or gauge defined by the plugin.
func (h *Host) Metric(name string) (uint64, bool) {
	for _, v := range h.metrics.snapshot() {
		if v.Name == name && v.Type != MetricHistogram {
			return v.Value, true
		}
	}
	return 0, false
}

// Stats are the host's counters (see Host.Stats).
type Stats struct {
	// Requests is the number of HTTP streams that finished (any outcome).
	Requests uint64
	// HostCalls counts every env.* host call; RequestHostCalls those made
	// during HTTP stream callbacks (on_context_create .. on_delete of a
	// stream), the rest being ticks, queues, callout responses and
	// configuration.
	HostCalls        uint64
	RequestHostCalls uint64
	// ByFunction and RequestByFunction split the same counts by ABI name.
	ByFunction        map[string]uint64
	RequestByFunction map[string]uint64
	// Traps is the number of VM traps; VMReplacements of VMs re-created after one.
	Traps          uint64
	VMReplacements uint64
	// Router figures: upstream attempts, retries performed, retries refused
	// by the cluster's max_retries circuit breaker.
	UpstreamAttempts uint64
	Retries          uint64
	RetryOverflow    uint64
	// Callouts is the number of proxy_http_call dispatched.
	Callouts uint64
	// LocalReplies counts responses generated by the plugin (send_local_response).
	LocalReplies uint64
	// Resets counts streams reset (client gone, close_stream).
	Resets uint64
	// Ticks and QueueReady count proxy_on_tick and proxy_on_queue_ready calls.
	Ticks      uint64
	QueueReady uint64
	// PollOneoff counts WASI poll_oneoff calls; GuestAllocs the
	// proxy_on_memory_allocate calls the host made to return data (the
	// re-entrant allocations), RequestGuestAllocs those made during HTTP
	// stream callbacks.
	PollOneoff         uint64
	GuestAllocs        uint64
	RequestGuestAllocs uint64
}

// HostCallsPerRequest is RequestHostCalls / Requests.
func (s Stats) HostCallsPerRequest() float64 {
	if s.Requests == 0 {
		return 0
	}
	return float64(s.RequestHostCalls) / float64(s.Requests)
}

// Stats returns the host counters.
func (h *Host) Stats() Stats {
	c := &h.counters
	s := Stats{
		Requests: c.requests.Load(), Traps: c.traps.Load(), VMReplacements: c.replacements.Load(),
		UpstreamAttempts: c.attempts.Load(), Retries: c.retries.Load(), RetryOverflow: c.retryOverflow.Load(),
		Callouts: c.callouts.Load(), LocalReplies: c.localReplies.Load(), Resets: c.resets.Load(),
		Ticks: c.ticks.Load(), QueueReady: c.queueReady.Load(),
		PollOneoff: c.pollOneoff.Load(), GuestAllocs: c.guestAllocs.Load(), RequestGuestAllocs: c.reqAllocs.Load(),
		ByFunction: map[string]uint64{}, RequestByFunction: map[string]uint64{},
	}
	for _, w := range h.workers {
		for k := 0; k < 2; k++ {
			for i := range hostFuncs {
				n := w.calls[k][i].Load()
				if n == 0 {
					continue
				}
				name := hostFuncs[i].name
				s.ByFunction[name] += n
				s.HostCalls += n
				if k == 0 {
					s.RequestByFunction[name] += n
					s.RequestHostCalls += n
				}
			}
		}
	}
	return s
}

// ResetStats zeroes the counters of Stats (not the plugin metrics).
func (h *Host) ResetStats() {
	c := &h.counters
	for _, a := range []*atomic.Uint64{&c.requests, &c.traps, &c.replacements, &c.attempts,
		&c.retries, &c.retryOverflow, &c.callouts, &c.localReplies, &c.pollOneoff, &c.guestAllocs, &c.reqAllocs, &c.resets,
		&c.ticks, &c.queueReady} {
		a.Store(0)
	}
	for _, w := range h.workers {
		for k := 0; k < 2; k++ {
			for i := range hostFuncs {
				w.calls[k][i].Store(0)
			}
		}
	}
	h.countedMu.Lock()
	h.counted = map[string]map[string]uint64{}
	h.countedMu.Unlock()
}

// Counted returns, for each global of Options.CountGlobals, the sum of its
// increases over top-level calls into the VMs since New or ResetStats, per
// export called (proxy_on_request_headers, proxy_on_tick, ...; re-entrant
// calls such as proxy_on_memory_allocate during a host call count in the
// call that made the host call).
func (h *Host) Counted() map[string]map[string]uint64 {
	h.countedMu.Lock()
	defer h.countedMu.Unlock()
	out := make(map[string]map[string]uint64, len(h.counted))
	for g, m := range h.counted {
		c := make(map[string]uint64, len(m))
		for k, v := range m {
			c[k] = v
		}
		out[g] = c
	}
	return out
}

// Global returns the value of the global the module of worker's VM exports
// as name (found is false when it exports none).
func (h *Host) Global(worker int, name string) (value uint64, found bool) {
	if worker < 0 || worker >= len(h.workers) {
		return 0, false
	}
	w := h.workers[worker]
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inst == nil || w.inst.dead {
		return 0, false
	}
	g := w.inst.mod.ExportedGlobal(name)
	if g == nil {
		return 0, false
	}
	return g.Get(), true
}

// CallExport calls the function the module of worker's VM exports as name,
// outside any stream, and returns its first result. found is false when the
// module does not export it. A trap replaces the VM, as for any call.
func (h *Host) CallExport(worker int, name string, args ...uint64) (result uint64, found bool, err error) {
	if worker < 0 || worker >= len(h.workers) {
		return 0, false, fmt.Errorf("devhost: no worker %d", worker)
	}
	w := h.workers[worker]
	w.mu.Lock()
	defer w.mu.Unlock()
	inst := w.ensure()
	if inst == nil {
		return 0, false, fmt.Errorf("devhost: worker %d: no VM", worker)
	}
	fn := inst.mod.ExportedFunction(name)
	if fn == nil {
		return 0, false, nil
	}
	r, err := inst.call(name, fn, nil, inst.root, args...)
	return r, true, err
}

func (h *Host) logf(worker int, level LogLevel, format string, args ...any) {
	h.logs.add(LogEntry{Time: h.opts.Clock.Now(), Worker: worker, Level: level, Message: fmt.Sprintf(format, args...), Host: true})
}

// ---------------------------------------------------------------------------
// instances

type instKey struct{}

// guestFuncs are the module's exports the host calls (nil when not exported).
type guestFuncs struct {
	initialize, malloc                                        api.Function
	onContextCreate, onVMStart, onConfigure, onDone, onDelete api.Function
	onTick, onQueueReady, onHTTPCallResponse, onLog           api.Function
	onRequestHeaders, onRequestBody, onRequestTrailers        api.Function
	onResponseHeaders, onResponseBody, onResponseTrailers     api.Function
}

// instance is one module instance of a worker. All fields are guarded by the
// worker's mu.
type instance struct {
	w     *worker
	h     *Host
	mod   api.Module
	ctx   context.Context
	f     guestFuncs
	stack []uint64
	mstk  []uint64
	err   *tailWriter
	dead  bool
	depth int
	// globals of Options.CountGlobals (same order) and their values before
	// the current top-level call
	countG   []api.Global
	countVal []uint64

	nextID  uint32
	root    uint32 // root context of new streams
	roots   map[uint32]*rootCtx
	streams map[uint32]*stream

	// per top-level call
	effective uint32
	effStream *stream
	cur       *stream // stream whose callback runs (host-call accounting)
	kind      int     // 0 stream callback, 1 background
	callResp  *calloutResult

	pluginConfig   []byte // visible to the root being created/configured
	pluginConfigOK bool
	initLog        []string // error/critical lines while starting a root

	metricIDs  map[uint32]*metric
	nextMetric [3]uint32
	nextToken  uint32
	status     uint32
	statusMsg  string
}

// rootCtx is a plugin (root) context: Envoy creates one per plugin
// configuration on every VM.
type rootCtx struct {
	id         uint32
	tickPeriod time.Duration
	tick       Timer
	streams    int
	retiring   bool
	deleted    bool
}

var errTrapped = errors.New("devhost: VM trapped")

func (h *Host) moduleConfig(inst *instance) wazero.ModuleConfig {
	clock := h.opts.Clock
	return wazero.NewModuleConfig().
		WithName(fmt.Sprintf("vm%d-%d", inst.w.idx, h.instSeq.Add(1))).
		WithStartFunctions().
		WithStdout(inst.err).
		WithStderr(inst.err).
		WithRandSource(h.rand).
		WithWalltime(func() (int64, int32) {
			t := clock.Now()
			return t.Unix(), int32(t.Nanosecond())
		}, 1).
		// Monotonic time since the host started, plus a constant so that it is
		// never zero (the Go runtime refuses a zero nanotime).
		WithNanotime(func() int64 { return int64(clock.Now().Sub(h.epoch)) + int64(time.Hour) }, 1).
		WithNanosleep(func(ns int64) { clock.Sleep(time.Duration(ns)) })
}

// newInstance instantiates the module for w and starts a root context with
// config. Called with w.mu held.
func (h *Host) newInstance(w *worker, config []byte) (*instance, error) {
	inst := &instance{
		w: w, h: h, stack: make([]uint64, 8), mstk: make([]uint64, 1),
		nextID: 1, roots: map[uint32]*rootCtx{}, streams: map[uint32]*stream{},
		metricIDs: map[uint32]*metric{}, nextMetric: [3]uint32{0, 1, 2}, kind: 1,
	}
	inst.err = &tailWriter{n: 8192, sink: func(line string) {
		h.logs.add(LogEntry{Time: h.opts.Clock.Now(), Worker: w.idx, Level: LogInfo, Message: "stderr: " + line, Host: true})
	}}
	inst.ctx = context.WithValue(h.baseCtx, instKey{}, inst)
	mod, err := h.rt.InstantiateModule(inst.ctx, h.compiled, h.moduleConfig(inst))
	if err != nil {
		return nil, fmt.Errorf("devhost: worker %d: instantiate: %w", w.idx, err)
	}
	inst.mod = mod
	ex := mod.ExportedFunction
	inst.f = guestFuncs{
		initialize: ex("_initialize"), malloc: ex("proxy_on_memory_allocate"),
		onContextCreate: ex("proxy_on_context_create"), onVMStart: ex("proxy_on_vm_start"),
		onConfigure: ex("proxy_on_configure"), onDone: ex("proxy_on_done"), onDelete: ex("proxy_on_delete"),
		onTick: ex("proxy_on_tick"), onQueueReady: ex("proxy_on_queue_ready"),
		onHTTPCallResponse: ex("proxy_on_http_call_response"), onLog: ex("proxy_on_log"),
		onRequestHeaders: ex("proxy_on_request_headers"), onRequestBody: ex("proxy_on_request_body"),
		onRequestTrailers: ex("proxy_on_request_trailers"), onResponseHeaders: ex("proxy_on_response_headers"),
		onResponseBody: ex("proxy_on_response_body"), onResponseTrailers: ex("proxy_on_response_trailers"),
	}
	if inst.f.malloc == nil {
		mod.Close(h.baseCtx)
		return nil, fmt.Errorf("devhost: worker %d: module does not export proxy_on_memory_allocate", w.idx)
	}
	for _, name := range h.opts.CountGlobals {
		g := mod.ExportedGlobal(name)
		if g == nil {
			mod.Close(h.baseCtx)
			return nil, fmt.Errorf("devhost: worker %d: module does not export the global %s", w.idx, name)
		}
		inst.countG = append(inst.countG, g)
	}
	inst.countVal = make([]uint64, len(inst.countG))
	if inst.f.initialize != nil {
		if err := inst.f.initialize.CallWithStack(inst.ctx, inst.stack); err != nil {
			inst.kill()
			return nil, fmt.Errorf("devhost: worker %d: _initialize trapped: %v%s", w.idx, err, tailNote(inst.err))
		}
	}
	if _, err := inst.startRoot(config); err != nil {
		inst.kill()
		return nil, err
	}
	return inst, nil
}

func tailNote(t *tailWriter) string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	return "; stderr: " + s
}

// startError is a failed root start; trapped tells a VM trap from a plugin
// that declined the configuration.
type startError struct {
	msg     string
	trapped bool
	cause   error
}

func (e *startError) Error() string { return e.msg }

// startRoot creates a root context for config: on_context_create(root, 0),
// on_vm_start, on_configure, the plugin configuration being visible during
// the three calls (Envoy's temp_plugin_). On success the root becomes the
// one new streams attach to. On failure the root stays in inst.roots (the
// caller deletes it or kills the VM).
func (inst *instance) startRoot(config []byte) (*rootCtx, error) {
	id := inst.nextID
	inst.nextID++
	r := &rootCtx{id: id}
	inst.roots[id] = r
	inst.pluginConfig, inst.pluginConfigOK = config, true
	inst.initLog = inst.initLog[:0]
	defer func() { inst.pluginConfig, inst.pluginConfigOK = nil, false }()
	fail := func(what string, err error) error {
		msg := fmt.Sprintf("devhost: worker %d: %s", inst.w.idx, what)
		if err != nil {
			msg += ": " + err.Error() + tailNote(inst.err)
		}
		if len(inst.initLog) > 0 {
			msg += ": " + strings.Join(inst.initLog, "; ")
		}
		return &startError{msg: msg, trapped: err != nil, cause: err}
	}
	if _, err := inst.callRaw(inst.f.onContextCreate, nil, id, uint64(id), 0); err != nil {
		return r, fail("proxy_on_context_create trapped", err)
	}
	if inst.f.onVMStart != nil {
		ok, err := inst.callRaw(inst.f.onVMStart, nil, id, uint64(id), uint64(len(inst.h.opts.VMConfig)))
		if err != nil {
			return r, fail("proxy_on_vm_start trapped", err)
		}
		if uint32(ok) == 0 {
			return r, fail("plugin failed to start (proxy_on_vm_start returned false)", nil)
		}
	}
	if inst.f.onConfigure != nil {
		ok, err := inst.callRaw(inst.f.onConfigure, nil, id, uint64(id), uint64(len(config)))
		if err != nil {
			return r, fail("proxy_on_configure trapped", err)
		}
		if uint32(ok) == 0 {
			return r, fail("plugin failed to start (proxy_on_configure returned false)", nil)
		}
	}
	inst.root = id
	return r, nil
}

// callRaw calls fn with effective context eff, without trap handling; a nil
// fn returns 0. s is the stream the call is for (nil: background).
func (inst *instance) callRaw(fn api.Function, s *stream, eff uint32, args ...uint64) (uint64, error) {
	if fn == nil {
		return 0, nil
	}
	if inst.dead {
		return 0, errTrapped
	}
	prevEff, prevStream, prevCur, prevKind := inst.effective, inst.effStream, inst.cur, inst.kind
	inst.effective, inst.cur = eff, s
	inst.effStream = inst.streams[eff]
	inst.kind = 1
	if s != nil {
		inst.kind = 0
	}
	stack := inst.stack
	if inst.depth > 0 {
		stack = make([]uint64, 8) // nested call: keep the outer call's stack intact
	}
	top := inst.depth == 0 && len(inst.countG) > 0
	if top {
		for i, g := range inst.countG {
			inst.countVal[i] = g.Get()
		}
	}
	inst.depth++
	copy(stack, args)
	err := fn.CallWithStack(inst.ctx, stack)
	inst.depth--
	if top {
		inst.addCounted(fn)
	}
	inst.effective, inst.effStream, inst.cur, inst.kind = prevEff, prevStream, prevCur, prevKind
	if err != nil {
		return 0, err
	}
	return stack[0], nil
}

// addCounted adds the increase of each CountGlobals global over the call of
// fn that just returned.
func (inst *instance) addCounted(fn api.Function) {
	name := fn.Definition().Name()
	if ex := fn.Definition().ExportNames(); len(ex) > 0 {
		name = ex[0]
	}
	h := inst.h
	h.countedMu.Lock()
	for i, g := range inst.countG {
		m := h.counted[h.opts.CountGlobals[i]]
		if m == nil {
			m = map[string]uint64{}
			h.counted[h.opts.CountGlobals[i]] = m
		}
		m[name] += g.Get() - inst.countVal[i]
	}
	h.countedMu.Unlock()
}

// call is callRaw plus Envoy's reaction to a trap: the VM is reported, killed
// and replaced by a fresh one (same configuration); errTrapped is returned.
func (inst *instance) call(what string, fn api.Function, s *stream, eff uint32, args ...uint64) (uint64, error) {
	r, err := inst.callRaw(fn, s, eff, args...)
	if err != nil {
		inst.w.trap(inst, what, err)
		return 0, errTrapped
	}
	return r, nil
}

// kill marks the instance dead, wakes its paused streams, stops its timers
// and closes the module.
func (inst *instance) kill() {
	if inst.dead {
		return
	}
	inst.dead = true
	for _, r := range inst.roots {
		if r.tick != nil {
			r.tick.Stop()
			r.tick = nil
		}
	}
	for _, s := range inst.streams {
		s.dead = true
		s.signal()
	}
	if inst.mod != nil {
		inst.mod.Close(context.Background())
	}
}

// trap reports a trapped VM, then replaces it. Called with w.mu held.
func (w *worker) trap(inst *instance, what string, err error) {
	h := w.h
	h.counters.traps.Add(1)
	h.logf(w.idx, LogError, "VM of worker %d trapped in %s: %v%s; replacing it", w.idx, what, err, tailNote(inst.err))
	inst.kill()
	if w.inst != inst {
		return
	}
	w.inst = nil
	select {
	case <-h.done:
		return
	default:
	}
	cfg := *h.pluginConfig.Load()
	ni, nerr := h.newInstance(w, cfg)
	if nerr != nil {
		w.lastFailure = time.Now()
		h.logf(w.idx, LogCritical, "worker %d: could not re-create the VM: %v", w.idx, nerr)
		return
	}
	w.inst = ni
	h.counters.replacements.Add(1)
}

// ensure re-creates a worker's VM that could not be re-created before.
// Called with w.mu held.
func (w *worker) ensure() *instance {
	if w.inst != nil && !w.inst.dead {
		return w.inst
	}
	select {
	case <-w.h.done:
		return nil
	default:
	}
	if time.Since(w.lastFailure) < time.Second {
		return nil
	}
	ni, err := w.h.newInstance(w, *w.h.pluginConfig.Load())
	if err != nil {
		w.lastFailure = time.Now()
		w.h.logf(w.idx, LogCritical, "worker %d: could not re-create the VM: %v", w.idx, err)
		return nil
	}
	w.inst = ni
	w.h.counters.replacements.Add(1)
	return ni
}

// ---------------------------------------------------------------------------
// root contexts, ticks, reconfiguration

// setTick (re)arms the tick timer of root r. Called with w.mu held.
func (inst *instance) setTick(r *rootCtx, period time.Duration) {
	if r.tick != nil {
		r.tick.Stop()
		r.tick = nil
	}
	r.tickPeriod = period
	if period > 0 && !inst.dead && !r.deleted {
		inst.armTick(r)
	}
}

func (inst *instance) armTick(r *rootCtx) {
	w := inst.w
	r.tick = inst.h.opts.Clock.AfterFunc(r.tickPeriod, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.inst != inst || inst.dead || r.deleted || r.tickPeriod <= 0 {
			return
		}
		// Envoy re-arms before calling on_tick, so the period runs from tick start.
		inst.armTick(r)
		inst.h.counters.ticks.Add(1)
		inst.call("proxy_on_tick", inst.f.onTick, nil, r.id, uint64(r.id))
	})
}

// retireRoot deletes a root that no stream uses any more: on_done, on_delete.
func (inst *instance) retireRoot(r *rootCtx) error {
	if r.deleted || r.streams > 0 {
		return nil
	}
	r.deleted = true
	if r.tick != nil {
		r.tick.Stop()
		r.tick = nil
	}
	if _, err := inst.call("proxy_on_done", inst.f.onDone, nil, r.id, uint64(r.id)); err != nil {
		return err
	}
	if inst.dead {
		return errTrapped
	}
	if _, err := inst.call("proxy_on_delete", inst.f.onDelete, nil, r.id, uint64(r.id)); err != nil {
		return err
	}
	delete(inst.roots, r.id)
	return nil
}

// Reconfigure applies a new plugin configuration the way Envoy applies a
// changed plugin config to running VMs: on every VM a NEW root context is
// created (proxy_on_context_create, proxy_on_vm_start, proxy_on_configure
// with the new configuration). If any VM rejects it, the new roots are
// deleted again, the old configuration stays and the error carries the
// plugin's log lines. Otherwise new streams use the new root; the old root
// gets proxy_on_done and proxy_on_delete once its in-flight streams are done.
// Shared data and shared queues are kept (they belong to the vm_id).
func (h *Host) Reconfigure(config []byte) error {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	cfg := append([]byte(nil), config...)
	type started struct {
		w    *worker
		inst *instance
		root *rootCtx
	}
	var ok []started
	var failure error
	for _, w := range h.workers {
		w.mu.Lock()
		inst := w.ensure()
		if inst == nil {
			w.mu.Unlock()
			failure = fmt.Errorf("devhost: worker %d: no VM", w.idx)
			break
		}
		prevRoot := inst.root
		r, err := inst.startRoot(cfg)
		inst.root = prevRoot // committed below, once every VM accepted
		if err != nil {
			var se *startError
			if errors.As(err, &se) && se.trapped {
				w.trap(inst, "reconfiguration", se.cause) // re-created with the old configuration
			} else {
				inst.retireRoot(r)
			}
			w.mu.Unlock()
			failure = err
			break
		}
		ok = append(ok, started{w, inst, r})
		w.mu.Unlock()
	}
	if failure != nil {
		for _, s := range ok {
			s.w.mu.Lock()
			if s.w.inst == s.inst && !s.inst.dead {
				s.inst.retireRoot(s.root)
			}
			s.w.mu.Unlock()
		}
		h.logf(-1, LogError, "reconfiguration rejected, previous configuration kept: %v", failure)
		return failure
	}
	h.pluginConfig.Store(&cfg)
	for _, s := range ok {
		s.w.mu.Lock()
		if s.w.inst == s.inst && !s.inst.dead {
			old := s.inst.roots[s.inst.root]
			s.inst.root = s.root.id
			if old != nil && old != s.root {
				old.retiring = true
				s.inst.retireRoot(old)
			}
		}
		s.w.mu.Unlock()
	}
	h.logf(-1, LogInfo, "plugin reconfigured on %d VMs", len(ok))
	return nil
}
