package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/store"
)

// pluginContext is one plugin configuration in one worker VM.
type pluginContext struct {
	types.DefaultPluginContext
	id       uint32
	cfg      *config.Config
	policies []*policy
	m        *metrics
	st       store.Store
	// counts is st (shared data), counting its round trips.
	counts storeCounts
	// waiting holds the requests paused until an instant (shaping, queues,
	// fault delays); the tick resumes them.
	waiting waitList
	// rnd is this VM's random source (fault injection, lease holder ids,
	// the random part of dead-letter ids): seeded from WASI random_get at
	// context creation, reseeded at start with the ordinal mixed in; never
	// from the clock.
	rnd *rand.Rand
	// ordinal is this plugin context's identity within the proxy: the next
	// value of a shared-data counter (create-if-absent, CAS increment), so
	// distinct for every VM and every reload; 0 if shared data failed.
	ordinal uint64
	// busy: the tick runs every tickBusy ms because requests are paused.
	busy bool
	// dlq is the VM's dead-letter state, nil when no policy has dead_letter.
	dlq *dlVM
	// hashKey keys the hashes of client-chosen keys (see deploymentHashKey).
	hashKey store.HashKey
	// merged is flushRequestHeaders' reused list (a VM is single-threaded
	// and the host copies the headers during the call).
	merged [][2]string
	// freeCtx is the first of the contexts of deleted streams (a list
	// through httpContext.nextFree), each with its stream block if it had
	// one (httpContext.deleted, streamBufs).
	freeCtx *httpContext
	// hdrTab is the VM's header table (see requestInfo).
	hdrTab hdrTab
	// respHdrs is the array the upstream response's headers are read into
	// (read and dropped within on_http_response_headers).
	respHdrs [][2]string
	// resp is what the response side keeps per VM (respVM: the .wasm
	// build's encoding of the response headers read, and its buffer).
	resp respVM
}

func newPluginContext(id uint32) *pluginContext {
	// The random source is seeded from the Go runtime's generator, which
	// WASI random_get seeds in the guest (never from the clock), mixed with
	// the context id.
	p := &pluginContext{id: id, m: newMetrics(), rnd: rand.New(rand.NewPCG(rand.Uint64(), uint64(id)))}
	p.st = &p.counts
	p.hdrTab.init()
	return p
}

// The tick resumes paused requests and renews leases. It runs every
// tickIdle milliseconds, and every tickBusy while the worker has paused
// requests, which bounds the lateness of a resume (documented in README).
const (
	tickIdle = 10 // milliseconds
	tickBusy = 1
)

// OnPluginStart parses the configuration with the same code as
// `breakwater validate`; any error fails the start with ONE critical line.
func (p *pluginContext) OnPluginStart(int) (status types.OnPluginStartStatus) {
	defer func() {
		if r := recover(); r != nil {
			proxywasm.LogCriticalf("breakwater: internal error at start: %v", r)
			status = types.OnPluginStartStatusFailed
		}
	}()
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCriticalf("breakwater: config: cannot read plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := config.Load(data)
	if err != nil {
		proxywasm.LogCritical(err.Error())
		return types.OnPluginStartStatusFailed
	}
	p.ordinal = nextOrdinal(p.st, cfg.Namespace)
	// math/rand/v2's top-level generator is the Go runtime's, seeded from
	// WASI random_get when the module starts; the ordinal keeps two VMs
	// apart even when their random_get returned the same bytes.
	p.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()^p.ordinal))
	p.hashKey = deploymentHashKey(p.st, cfg.Namespace)
	if err := p.configure(cfg); err != nil {
		proxywasm.LogCritical(err.Error())
		return types.OnPluginStartStatusFailed
	}
	if err := proxywasm.SetTickPeriodMilliSeconds(tickIdle); err != nil {
		proxywasm.LogCriticalf("breakwater: cannot set tick period: %v", err)
		return types.OnPluginStartStatusFailed
	}
	return types.OnPluginStartStatusOK
}

// ordinalKey is the shared-data key of the counter that gives every plugin
// context of the proxy its ordinal.
func ordinalKey(ns string) string { return ns + "/vm" }

// nextOrdinal is the plugin context's ordinal (nextVMIdentity); 0, with a
// warning, when shared data failed (the random part then keeps identities
// apart, probabilistically).
func nextOrdinal(st store.Store, ns string) uint64 {
	n, err := nextVMIdentity(st, ns)
	if err != nil {
		proxywasm.LogWarnf("breakwater: no VM ordinal from shared data (%v): identities rely on their random part", err)
	}
	return n
}

// nextVMIdentity increments the proxy's VM counter in shared data
// (store.Update: an absent key is created with CreateCAS, so two VMs
// starting at once cannot both create it; a conflict is retried) and
// returns the new value; 0 on error.
func nextVMIdentity(st store.Store, ns string) (uint64, error) {
	var vm uint64
	err := store.Update(st, ordinalKey(ns), func(cur []byte) ([]byte, bool, error) {
		n := uint64(0)
		if len(cur) == 8 {
			n = binary.LittleEndian.Uint64(cur)
		}
		vm = n + 1
		return binary.LittleEndian.AppendUint64(nil, vm), true, nil
	})
	if err != nil {
		return 0, err
	}
	return vm, nil
}

// holderID is a lease holder id unique in the proxy: the ordinal in the top
// 16 bits (distinct VMs never collide while fewer than 65,536 plugin
// contexts started), 47 random bits below, and the low bit set (0 is no
// holder).
func (p *pluginContext) holderID() uint64 {
	return p.ordinal<<48 | p.rnd.Uint64()>>16 | 1
}

// configure builds the runtime policies of cfg.
func (p *pluginContext) configure(cfg *config.Config) error {
	pols := make([]*policy, 0, len(cfg.Policies))
	for i, pc := range cfg.Policies {
		pol, err := newPolicy(p, cfg.Namespace, pc)
		if err != nil {
			return fmt.Errorf("breakwater: config: policies[%d]: %w", i, err)
		}
		pols = append(pols, pol)
	}
	p.cfg, p.policies = cfg, pols
	for _, pol := range pols {
		if pol.dl != nil {
			p.dlq = newDLVM(p)
			break
		}
	}
	return nil
}

func (p *pluginContext) NewHttpContext(id uint32) types.HttpContext {
	if h := p.freeCtx; h != nil { // a deleted stream's (deleted)
		b := h.b // the context keeps its block (streamBufs)
		p.freeCtx = h.nextFree
		*h = httpContext{id: id, p: p, b: b}
		return h
	}
	return &httpContext{id: id, p: p}
}

// OnTick resumes the paused requests whose time has come.
func (p *pluginContext) OnTick() {
	defer func() {
		if r := recover(); r != nil {
			proxywasm.LogErrorf("breakwater: internal error in tick: %v", r)
		}
	}()
	now := clock()
	if len(p.waiting.items) > 0 {
		p.waiting.due(now, func(h *httpContext) { h.wake(now) })
	}
	for _, pol := range p.policies {
		pol.tick(now)
	}
	if p.dlq != nil && p.dlq.outbox.Queued() > 0 {
		p.dlq.send(now)
	}
	p.pace()
}

// wait pauses h until due; the tick resumes it.
func (p *pluginContext) wait(h *httpContext, due time.Time) {
	p.waiting.add(h, due)
	p.pace()
}

// pace runs the tick every tickBusy ms while requests are paused, every
// tickIdle ms otherwise (one host call on each change).
func (p *pluginContext) pace() {
	busy := len(p.waiting.items) > 0
	if busy == p.busy {
		return
	}
	period := uint32(tickIdle)
	if busy {
		period = tickBusy
	}
	if proxywasm.SetTickPeriodMilliSeconds(period) == nil {
		p.busy = busy
	}
}
