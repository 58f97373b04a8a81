package filter

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/internal/wasmfile"
)

// A scenario is written once and run twice: natively (the filter's Go code
// under proxytest's host emulator) and against dist/breakwater.wasm (the
// artifact Envoy loads, under proxytest.NewWasmVMContext).
//
// Time: in the wasm run the guest's clock is wazero's fake clock, which
// advances 1ms at every read. The native run uses the same kind of clock
// (fakeClock), so both runs see time move the same way; h.advance(d) moves
// the clock by about d in both (in wasm by letting the guest read its clock
// d/1ms times from OnTick). Scenarios therefore use periods long enough that
// a few stray milliseconds do not matter.
type scenario struct {
	name   string
	config string
	run    func(t *testing.T, h *harness)
}

type harness struct {
	t    *testing.T
	mode string
	host proxytest.HostEmulator
	fake *fakeClock
}

// fakeClock advances by 1ms at every read, like wazero's fake wall clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(time.Millisecond)
	return c.now
}

var (
	wasmOnce  sync.Once
	wasmBytes []byte
	wasmErr   error
	// wasmVM is compiled once per test binary and shared by the scenarios
	// (compiling the 5 MB module is most of a scenario's cost). Each
	// scenario still gets a fresh plugin context (proxy_on_context_create
	// of the root context replaces it in the guest) and a fresh host
	// emulator, so no state crosses scenarios.
	wasmVM types.VMContext
	// proxytest's emulator is process-global: one harness at a time.
	hostMu sync.Mutex
)

func loadWasm(t testing.TB) []byte {
	wasmOnce.Do(func() {
		var b []byte
		b, wasmErr = wasmfile.Read()
		if wasmErr == nil {
			wasmBytes, wasmErr = wasmfile.WithStart(b)
		}
	})
	if wasmErr != nil {
		t.Fatalf("wasm run: %v", wasmErr)
	}
	return wasmBytes
}

// modes are the two runs; BREAKWATER_MODES=native limits a local run to one.
func modes() []string {
	if m := os.Getenv("BREAKWATER_MODES"); m != "" {
		return strings.Split(m, ",")
	}
	return []string{"native", "wasm"}
}

func runScenarios(t *testing.T, scenarios []scenario) {
	for _, mode := range modes() {
		t.Run(mode, func(t *testing.T) {
			for _, sc := range scenarios {
				t.Run(sc.name, func(t *testing.T) {
					h, ok := startHarness(t, mode, sc.config)
					if !ok {
						t.Fatalf("plugin failed to start: %v", h.host.GetCriticalLogs())
					}
					sc.run(t, h)
				})
			}
		})
	}
}

// startHarness starts a VM and the plugin with config; ok is the start status.
func startHarness(t testing.TB, mode, config string) (*harness, bool) {
	hostMu.Lock()
	h := &harness{mode: mode}
	if tt, ok := t.(*testing.T); ok {
		h.t = tt
	}
	var vm types.VMContext
	switch mode {
	case "native":
		h.fake = &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		clock = h.fake.read
		vm = NewVMContext()
	case "wasm":
		if wasmVM == nil {
			w, err := proxytest.NewWasmVMContext(loadWasm(t))
			if err != nil {
				hostMu.Unlock()
				t.Fatalf("load wasm: %v", err)
			}
			wasmVM = w
		}
		vm = wasmVM
	default:
		hostMu.Unlock()
		t.Fatalf("unknown mode %q", mode)
	}
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(config))
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(func() {
		reset()
		clock = time.Now
		hostMu.Unlock()
	})
	h.host = host
	if host.StartVM() != types.OnVMStartStatusOK {
		t.Fatalf("vm start failed")
	}
	return h, host.StartPlugin() == types.OnPluginStartStatusOK
}

// advance moves the plugin's clock forward by about d.
func (h *harness) advance(d time.Duration) {
	switch h.mode {
	case "native":
		h.fake.mu.Lock()
		h.fake.now = h.fake.now.Add(d)
		h.fake.mu.Unlock()
		h.host.Tick()
	case "wasm":
		for i := time.Duration(0); i < d; i += time.Millisecond {
			h.host.Tick()
		}
	}
}

// exchange is one HTTP stream through the filter.
type exchange struct {
	h      *harness
	id     uint32
	action types.Action
}

func hdrs(method, path string, kv ...string) [][2]string {
	out := [][2]string{{":method", method}, {":path", path}, {":authority", "svc.local"}}
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, [2]string{kv[i], kv[i+1]})
	}
	return out
}

// request sends request headers (end of stream) and returns the exchange.
func (h *harness) request(method, path string, kv ...string) *exchange {
	id := h.host.InitializeHttpContext()
	a := h.host.CallOnRequestHeaders(id, hdrs(method, path, kv...), true)
	return &exchange{h: h, id: id, action: a}
}

// local is the local response the filter sent, or nil.
func (x *exchange) local() *proxytest.LocalHttpResponse { return x.h.host.GetSentLocalResponse(x.id) }

// status is the local response status, or 0 when the request went upstream.
func (x *exchange) status() int {
	if l := x.local(); l != nil {
		return int(l.StatusCode)
	}
	return 0
}

func (x *exchange) localHeader(name string) string {
	if l := x.local(); l != nil {
		return get(l.Headers, name)
	}
	return ""
}

// upstreamHeader is a header of the request as forwarded upstream.
func (x *exchange) upstreamHeader(name string) string {
	return get(x.h.host.GetCurrentRequestHeaders(x.id), name)
}

// respond delivers upstream response headers and ends the stream.
func (x *exchange) respond(status string, kv ...string) {
	hs := [][2]string{{":status", status}}
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, [2]string{kv[i], kv[i+1]})
	}
	x.h.host.CallOnResponseHeaders(x.id, hs, true)
	x.h.host.CompleteHttpContext(x.id)
}

func (x *exchange) responseHeader(name string) string {
	return get(x.h.host.GetCurrentResponseHeaders(x.id), name)
}

// end ends the stream without a response (reset, or after a local reply).
func (x *exchange) end() { x.h.host.CompleteHttpContext(x.id) }

// forwarded says the request went upstream: continued, no local response.
func (x *exchange) forwarded() bool {
	return x.local() == nil && x.h.host.GetCurrentHttpStreamAction(x.id) == types.ActionContinue
}

func (h *harness) counter(name string) uint64 {
	v, err := h.host.GetCounterMetric(name)
	if err != nil {
		h.t.Fatalf("counter %s: %v", name, err)
	}
	return v
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
