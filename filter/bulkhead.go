package filter

import (
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/bulkhead"
)

// bulkheadStage enforces bulkhead: at most max_concurrent requests of a key
// in flight across all workers, with a bounded FIFO queue whose waiters are
// paused and admitted in FIFO order: at once when a slot is freed by the
// same worker, else from that worker's tick (1ms while it has waiters), so a
// waiter is admitted at most about a millisecond after a slot frees on
// another worker.
//
// A slot is released exactly once, whatever ends the stream: response,
// reset, a local reply by a later stage (undo) or the end of a paused
// stream. Held leases are renewed from the tick before they expire, so a
// long stream keeps its slot; a lease whose worker vanished expires after
// lease_ttl and is reclaimed by the next request without its cooperation.
type bulkheadStage struct {
	p      *pluginContext
	pol    *policy
	cfg    *config.Bulkhead
	b      *bulkhead.Bulkhead
	active gauge
	queued gauge
	// held are the leases of this worker, renewed from the tick, in no
	// order (each hold knows its index: removal swaps the last one in).
	held []*bhHold
	// queue are this worker's queued requests, in arrival order: a slot
	// this worker frees is offered to them at once, without waiting for
	// the tick.
	queue []*httpContext
	// synced is when the gauges were last set from the shared record.
	synced time.Time
}

// bhHold is a request's place in the bulkhead: queued, then holding a lease.
type bhHold struct {
	_        [0]func() // not comparable: no generated equality in the .wasm
	key      string
	id       uint64
	queuedAt time.Time
	waiting  bool
	lease    bulkhead.Lease
	holding  bool
	// at is the hold's index in held while holding.
	at int
}

func newBulkheadStage(p *pluginContext, ns string, pol *policy, c *config.Bulkhead) (*bulkheadStage, error) {
	b := bulkhead.New(pol.prefix+"/bh", c.MaxKeys, c.Settings)
	if err := b.Err(); err != nil {
		return nil, fmt.Errorf("bulkhead: %w", err)
	}
	b.SetHashKey(p.hashKey)
	b.ReuseBuffer() // one worker; the host copies what a set is given
	st := &bulkheadStage{p: p, pol: pol, cfg: c, b: b,
		active: p.m.gauge(metricdef.Name(ns, metricdef.BulkheadActive, pol.name)),
		queued: p.m.gauge(metricdef.Name(ns, metricdef.BulkheadQueued, pol.name))}
	// The capacity, for dashboards and alerts to compare active and queued
	// with; every worker sets the same values.
	p.m.gauge(metricdef.Name(ns, metricdef.BulkheadMaxConcurrent, pol.name)).set(int64(b.Settings().MaxConcurrent))
	p.m.gauge(metricdef.Name(ns, metricdef.BulkheadQueueMaxSize, pol.name)).set(int64(b.Settings().QueueSize))
	if len(c.Key) == 0 {
		// One record: the gauges are set to what each operation saw in it
		// (never a sum of increments that a vanished worker left behind).
		b.Observe(st.observe)
	}
	if c.QueueSize == 0 {
		// Without a queue no waiter is ever live (they all expire at
		// once), so the queued gauge is 0: set once here, not on every
		// operation.
		st.queued.set(0)
	}
	pol.ticks = append(pol.ticks, st.renew)
	return st, nil
}

// observe sets the gauges of an unkeyed bulkhead to the counts an
// operation saw in its record; queued only when there is a queue.
func (s *bulkheadStage) observe(_ string, active, queued int) {
	s.active.set(int64(active))
	if s.cfg.QueueSize > 0 {
		s.queued.set(int64(queued))
	}
}

// count moves the gauges of a keyed bulkhead, which sum the keys: each
// worker adds and removes its own requests, so the sum never goes below
// zero (a vanished worker's requests stay counted: documented).
func (s *bulkheadStage) count(active, queued int64) {
	if len(s.cfg.Key) == 0 {
		return
	}
	if active != 0 {
		s.active.add(active)
	}
	if queued != 0 {
		s.queued.add(queued)
	}
}

func (s *bulkheadStage) onRequest(h *httpContext, now time.Time) verdict {
	key, id := h.req.key(s.cfg.Key), s.p.holderID()
	lease, ok, err := s.b.Acquire(s.p.st, key, id, now)
	if err != nil {
		logLimited("breakwater: %s: bulkhead state unavailable, request admitted: %v", s.pol.name, err)
		return pass
	}
	// The hold lives in the stream's block (h.b.bh), written only when the
	// request holds or waits; release and leaveQueue drop its key.
	if ok {
		h.b.bh = bhHold{key: key, id: id}
		s.hold(h, &h.b.bh, lease)
		return pass
	}
	if s.cfg.QueueSize == 0 {
		return h.reject(now, config.ReasonBulkheadFull, nil)
	}
	if _, ok, err := s.b.Enqueue(s.p.st, key, id, now); err != nil || !ok {
		return h.reject(now, config.ReasonBulkheadFull, nil)
	}
	h.b.bh = bhHold{key: key, id: id, waiting: true, queuedAt: now}
	hold := &h.b.bh
	s.count(0, 1)
	h.bh = hold
	h.onEnd = append(h.onEnd, holdRec{kind: holdQueue, bh: s, bhh: hold})
	s.queue = append(s.queue, h)
	s.p.wait(h, now) // polled from the next tick, or when this worker frees a slot
	return wait
}

// wake polls the queue for a waiting request (from the tick).
func (s *bulkheadStage) wake(h *httpContext, now time.Time) {
	if !s.poll(h, now) {
		s.p.wait(h, now) // still waiting (or a transient store error): next tick
	}
}

// poll tries to admit a queued request; false means it still waits.
func (s *bulkheadStage) poll(h *httpContext, now time.Time) bool {
	hold := h.bh
	lease, ok, err := s.b.TryAdmitQueued(s.p.st, hold.key, hold.id, now)
	switch {
	case ok:
		s.leaveLocal(hold)
		s.count(0, -1)
		s.hold(h, hold, lease)
		h.resume(now)
	case errors.Is(err, bulkhead.ErrNotQueued) || now.Sub(hold.queuedAt) >= s.cfg.MaxWait:
		s.leaveQueue(hold, now)
		h.reject(now, config.ReasonBulkheadFull, nil)
	default:
		return false
	}
	return true
}

// offer gives a slot just freed by this worker to its own queued requests
// of the same key, in arrival order, then restores the effective context
// of the request that freed it (by stands for that request, nil from the tick).
func (s *bulkheadStage) offer(key string, by *httpContext, now time.Time) {
	offered := false
	for i := 0; i < len(s.queue); i++ {
		h := s.queue[i]
		if h.bh == nil || h.bh.key != key || h.ended {
			continue
		}
		offered = true
		_ = proxywasm.SetEffectiveContext(h.id)
		if !s.poll(h, now) {
			break
		}
		s.p.waiting.remove(h)
		i-- // poll removed h from s.queue
	}
	if offered && by != nil {
		_ = proxywasm.SetEffectiveContext(by.id)
	}
}

// leaveLocal removes a request from this worker's queue list.
func (s *bulkheadStage) leaveLocal(hold *bhHold) {
	hold.waiting = false
	for i, h := range s.queue {
		if h.bh == hold {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return
		}
	}
}

func (s *bulkheadStage) leaveQueue(hold *bhHold, now time.Time) {
	if !hold.waiting {
		return
	}
	s.leaveLocal(hold)
	s.count(0, -1)
	_ = s.b.Dequeue(s.p.st, hold.key, hold.id, now)
	hold.key = "" // may be a view of the request's headers
}

func (s *bulkheadStage) hold(h *httpContext, hold *bhHold, lease bulkhead.Lease) {
	hold.lease, hold.holding = lease, true
	hold.at = len(s.held)
	s.held = append(s.held, hold)
	s.count(1, 0)
	rec := holdRec{kind: holdBulkhead, bh: s, bhh: hold}
	h.undo = append(h.undo, rec)
	h.onEnd = append(h.onEnd, rec)
}

// release gives the slot of h back, once, and offers it to this worker's
// queued requests.
func (s *bulkheadStage) release(h *httpContext, hold *bhHold, now time.Time) {
	if !hold.holding {
		return
	}
	hold.holding = false
	s.unhold(hold)
	s.count(-1, 0)
	key := hold.key
	hold.key = "" // may be a view of the request's headers
	if _, err := s.b.Release(s.p.st, key, hold.lease, now); err != nil {
		logLimited("breakwater: %s: bulkhead release failed (the lease expires after lease_ttl): %v", s.pol.name, err)
		return
	}
	if len(s.queue) > 0 {
		s.offer(key, h, now)
	}
}

// unhold removes hold from held.
func (s *bulkheadStage) unhold(hold *bhHold) {
	last := len(s.held) - 1
	if i := hold.at; i >= 0 && i <= last && s.held[i] == hold {
		s.held[i] = s.held[last]
		s.held[i].at = i
		s.held[last] = nil
		s.held = s.held[:last]
	}
}

// gaugeSync is how often a worker reads the record of an unkeyed bulkhead
// to set its gauges when no request does (leases of a vanished worker
// expiring, waiters dropped).
const gaugeSync = time.Second

// renew extends the leases of this worker's long streams before they
// expire, and resynchronises the gauges.
func (s *bulkheadStage) renew(now time.Time) {
	if len(s.cfg.Key) == 0 && now.Sub(s.synced) >= gaugeSync {
		s.synced = now
		if active, queued, err := s.b.Counts(s.p.st, "", now); err == nil {
			s.observe("", active, queued)
		}
	}
	ttl := s.b.Settings().LeaseTTL
	for _, hold := range s.held {
		if hold.lease.Expires.Sub(now) < ttl/2 {
			if err := s.b.Renew(s.p.st, hold.key, hold.lease, now); err == nil {
				hold.lease.Expires = now.Add(ttl)
			}
		}
	}
}
