package breaker

import (
	"math"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// observed is what a store operation of Allow, Report or a Local's flush
// saw of a key's record, for the Local view (see doc.go, "Local views").
type observed struct {
	_      [0]func() // not comparable: no generated equality in the .wasm
	ok     bool
	closed bool
	gen    uint32
	// clean: closed with no failure, no slow call and no consecutive
	// failure in the window at the instant of the read.
	clean bool
	// local: clean, and one more failure (slow too) would not open it.
	local bool
	// calls is the window's calls at the read (closed).
	calls int
	// stored: closed with a record of the settings' window shape in the
	// store (a key's first outcome creates it at once).
	stored bool
}

// set records r (window w, nil for none) at now in o; a nil o is ignored.
func (o *observed) set(b *Breaker, r *rec, w []byte, now int64) {
	if o == nil {
		return
	}
	*o = observed{ok: true, closed: r.state == Closed, gen: r.gen, stored: w != nil}
	if r.state != Closed {
		return
	}
	calls, fails, slows := b.sh.counts(w, now) // nil w: an empty window
	o.closedCounts(b, r, calls, fails, slows)
}

// closedCounts completes o (set for a closed record r) with the window's
// counts calls, fails and slows.
func (o *observed) closedCounts(b *Breaker, r *rec, calls, fails, slows int) {
	o.calls = calls
	if r.consec != 0 || fails != 0 || slows != 0 {
		return
	}
	o.clean = true
	// One more failure, slow as well, in this clean window: consecutive
	// failures 1, one failure and one slow call among the calls.
	calls++
	if b.sh.wtype == CountWindow {
		calls = min(calls, b.sh.n)
	}
	r1 := rate(1, calls)
	trip := b.s.ConsecutiveFailures == 1 ||
		(calls >= b.s.MinimumCalls && (r1 >= b.s.FailureRateThreshold || (b.s.SlowCallDuration > 0 && r1 >= b.s.SlowCallRateThreshold)))
	o.local = !trip
}

// addN records k successes (not slow) in w at now, as k calls of add would.
func (sh *shape) addN(w []byte, now int64, k uint32) {
	if sh.wtype == CountWindow {
		// min(k, N) slots from pos on (wrapping) become successes: their
		// bits are cleared a byte at a time; the write position moves k
		// slots.
		n := uint32(sh.n)
		filled, pos := le.Uint32(w[4:]), le.Uint32(w[8:])
		nb := uint32(bitBytes(sh.n))
		fb, sb := w[countHdr:countHdr+nb], w[countHdr+nb:countHdr+2*nb]
		m := min(k, n)
		first := min(m, n-pos)
		// [pos, pos+first), then the wrapped part [0, m-first).
		for from, to, rest := pos, pos+first, m-first; from < to; from, to, rest = 0, rest, 0 {
			clearBits(fb, sb, from, to)
		}
		le.PutUint32(w[4:], uint32(min(uint64(filled)+uint64(k), uint64(n))))
		le.PutUint32(w[8:], uint32((uint64(pos)+uint64(k))%uint64(n)))
		return
	}
	if k == 0 {
		return
	}
	// One add moves the window to now; the rest land in the same bucket.
	sh.add(w, now, false, false)
	o := timeHdr + int(mod(int64(le.Uint64(w[12:])), int64(sh.n)))*bucketLen
	c := uint64(le.Uint32(w[o:])) + uint64(k-1)
	le.PutUint32(w[o:], uint32(min(c, math.MaxUint32)))
}

// clearBits clears the bits [from, to) of both bitmaps fb and sb (of equal
// length, to <= 8*len), one byte (and one mask) at a time.
func clearBits(fb, sb []byte, from, to uint32) {
	for from < to {
		i := from >> 3
		hi := min(to-i<<3, 8) // the range's end within byte i
		m := byte(uint32(1)<<hi-1) &^ byte(uint32(1)<<(from&7)-1)
		fb[i] &^= m
		sb[i] &^= m
		from = i<<3 + 8
	}
}

// addSuccesses adds k successes of a closed record r to its window w at now,
// with the outcome they would have had reported one by one: the failure and
// slow rates only fall with each success, so the window can only trip on
// the first success that brings the calls to minimum_calls (or on the first
// one, when the calls already are there); that one is checked, and a trip
// there starts the open generation (the rest of the batch then belongs to
// the closed generation that ended, and is dropped, as Report drops a stale
// token's outcome).
func (b *Breaker) addSuccesses(r *rec, w []byte, now time.Time, k uint32) (t Transition, hasT, clean bool) {
	ns := now.UnixNano()
	r.consec = 0
	c0, f0, s0 := b.sh.counts(w, ns)
	if f0 == 0 && s0 == 0 {
		// A clean window stays clean: its rates stay 0, below every
		// threshold (both are > 0), and no success can trip it. A clean
		// count window has no bit set: only its filled and position words
		// move k slots (the bits addN would clear are clear).
		if n := uint64(b.sh.n); b.sh.wtype == CountWindow {
			le.PutUint32(w[4:], uint32(min(uint64(le.Uint32(w[4:]))+uint64(k), n)))
			le.PutUint32(w[8:], uint32((uint64(le.Uint32(w[8:]))+uint64(k))%n))
		} else {
			b.sh.addN(w, ns, k)
		}
		return Transition{}, false, true
	}
	j := uint32(1)
	if need := b.s.MinimumCalls - c0; need > 1 {
		j = uint32(min(need, math.MaxUint32))
	}
	if j > k {
		b.sh.addN(w, ns, k)
		return Transition{}, false, false
	}
	b.sh.addN(w, ns, j)
	if trip, fr, sr, calls := b.trips(r, w, ns); trip {
		r.trip = incSat(r.trip)
		t := b.move(r, w, Open, now)
		t.FailureRate, t.SlowRate, t.Calls = fr, sr, calls
		return t, true, false
	}
	b.sh.addN(w, ns, k-j)
	return Transition{}, false, false
}

// A Local is one worker's view of a Breaker's keys, so that a typical
// request of a healthy breaker costs no store operation (see doc.go, "Local
// views"): Allow admits locally while the key's view is fresh (read or
// written by this worker less than period ago), closed and clean; Report
// counts a closed-state success locally, and reports anything else at once
// together with the key's pending successes; Tick (the worker's timer)
// flushes the pending successes, one store.Update per key, and re-reads the
// views used since the last tick. The views are a direct-mapped table of
// a power of two entries, at least maxViews, indexed by the keyed hash of the
// key (store.HashKey, the breaker's): a key takes its entry from the key
// that held it, whose pending successes are flushed first. A Local belongs
// to one worker: it is not safe for concurrent use.
type Local struct {
	b      *Breaker
	period int64
	mask   uint64
	views  []view
	// decides: the views may admit (Allow, Fresh) and count successes
	// (Report, Count): valid settings in a mode that records (Enforce or
	// Observe; ForcedOpen and Disabled go to the Breaker). Fixed by the
	// settings, so New's checks are made once.
	decides bool
}

// view is a Local's knowledge of one key.
type view struct {
	key []byte
	// held: the entry holds key's view.
	held bool
	observed
	// at is when the record was last read or written by this worker.
	at int64
	// used: admitted locally since the last tick.
	used bool
	// pending counts the successes of generation gen not yet in the store.
	pending uint32
}

// NewLocal returns a worker's Local over b: views are fresh for period
// (the worker's tick period); the table has room for maxViews keys (< 1
// means 1), rounded up to a power of two.
func (b *Breaker) NewLocal(period time.Duration, maxViews int) *Local {
	n := 1
	for n < maxViews && n < 1<<20 {
		n <<= 1
	}
	return &Local{b: b, period: int64(period), mask: uint64(n - 1), views: make([]view, n),
		decides: b.err == nil && b.s.Mode < ForcedOpen}
}

// Breaker returns the breaker the Local views.
func (l *Local) Breaker() *Breaker { return l.b }

// Pending is the number of successes of key counted locally and not yet
// flushed.
func (l *Local) Pending(key string) int {
	if i := l.find(key); i >= 0 {
		return int(l.views[i].pending)
	}
	return 0
}

// entry is key's entry in the table.
func (l *Local) entry(key string) int {
	if l.mask == 0 {
		return 0
	}
	return int(l.b.hk.Sum(key) & l.mask)
}

// find returns the index of key's view, or -1.
func (l *Local) find(key string) int {
	i := 0
	if l.mask != 0 {
		i = l.entry(key)
	}
	if !l.views[i].is(key) {
		return -1
	}
	return i
}

// is says whether the view holds key's (the empty key, an unkeyed
// breaker's, compared without a call).
func (v *view) is(key string) bool {
	return v.held && len(v.key) == len(key) && (len(key) == 0 || string(v.key) == key)
}

// keep records o for key (view i, or its entry when i < 0) at now.
func (l *Local) keep(st store.Store, i int, key string, o *observed, now time.Time) {
	if !o.ok {
		return
	}
	if i < 0 {
		i = l.entry(key)
		v := &l.views[i]
		if v.held {
			l.evict(st, i, now)
		}
		*v = view{key: append(v.key[:0], key...), held: true}
	}
	v := &l.views[i]
	if !o.closed || o.gen != v.gen {
		v.pending = 0 // successes of a generation that ended: Report would ignore them
	}
	v.observed = *o
	v.at = now.UnixNano()
}

// evict flushes view i's pending successes (lost on a store error).
func (l *Local) evict(st store.Store, i int, now time.Time) {
	v := &l.views[i]
	if v.pending > 0 {
		_, _ = l.b.record(st, string(v.key), now, false, Token{}, Outcome{}, v.pending, v.gen, nil)
		v.pending = 0
	}
}

// Fresh is Allow's local case, for a caller to try first: when key's view
// is fresh, closed and clean at ns (now.UnixNano()) it admits (a token of
// the view's generation, ok true) exactly as Allow would; otherwise (false)
// nothing was done and the caller calls Allow.
func (l *Local) Fresh(key string, ns int64) (Token, bool) {
	v := &l.views[0]
	if l.mask != 0 {
		v = &l.views[l.entry(key)]
	}
	if !l.decides || !v.local || ns < v.at || ns-v.at >= l.period || !v.is(key) {
		return Token{}, false
	}
	v.used = true
	return Token{Generation: v.gen}, true
}

// Allow is Breaker.Allow for this worker: a fresh, closed and clean view
// admits without a store operation (a token of the view's generation);
// anything else is Breaker.Allow, whose read refreshes the view.
func (l *Local) Allow(st store.Store, key string, now time.Time) (Token, bool, []Transition, error) {
	// Without decides Fresh says false, and allow answers as Breaker.Allow
	// (invalid settings, ForcedOpen, Disabled) without a state to keep.
	if tok, ok := l.Fresh(key, now.UnixNano()); ok {
		return tok, true, nil, nil
	}
	i := l.find(key)
	var o observed
	tok, ok, tr, err := l.b.allow(st, key, now, &o)
	if err == nil {
		l.keep(st, i, key, &o, now)
	}
	return tok, ok, tr, err
}

// Report is Breaker.Report for this worker: a success (not slow) of a
// closed-state token of the key's view generation is counted locally
// (flushed by the next Tick, or with the key's next outcome reported)
// when the key has a record and the success cannot open the breaker: the
// view is clean, or its calls and this worker's pending successes already
// reach minimum_calls (from there a success only lowers the rates). Any other outcome is one store.Update
// that first adds the key's pending successes, then the outcome.
func (l *Local) Report(st store.Store, key string, tok Token, now time.Time, o Outcome) ([]Transition, error) {
	if !l.decides || tok.Generation == 0 || tok.WouldReject {
		// As Breaker.Report: invalid settings are its error; ForcedOpen,
		// Disabled, a zero or WouldReject token record nothing.
		return nil, l.b.err
	}
	if !o.Failure && !l.b.slow(o) && l.Count(key, tok) {
		return nil, nil
	}
	i := l.find(key)
	var succ, gen uint32
	if i >= 0 {
		succ, gen = l.views[i].pending, l.views[i].gen
	}
	var ob observed
	tr, err := l.b.record(st, key, now, true, tok, o, succ, gen, &ob)
	if err != nil {
		return tr, err
	}
	if i >= 0 {
		l.views[i].pending = 0
	}
	l.keep(st, i, key, &ob, now)
	return tr, nil
}

// counts says whether the view counts a success (not slow) of tok locally
// (see Report).
func (v *view) counts(tok Token, minCalls int) bool {
	return !tok.Probe && v.closed && v.gen == tok.Generation && v.pending < math.MaxUint32 &&
		v.stored && (v.clean || v.calls+int(v.pending) >= minCalls)
}

// Count is the part of Report that needs neither the store nor the
// instant: a success (not slow) of tok that Report would count locally is
// counted, and Count says true; otherwise (false) nothing was done and the
// outcome goes to Report. A caller that knows the call is a success and not
// slow reads the clock only when Count says false.
func (l *Local) Count(key string, tok Token) bool {
	if !l.decides || tok.Generation == 0 || tok.WouldReject {
		return false
	}
	v := &l.views[0]
	if l.mask != 0 {
		v = &l.views[l.entry(key)]
	}
	if !v.is(key) || !v.counts(tok, l.b.s.MinimumCalls) {
		return false
	}
	v.pending++
	return true
}

// Release is Breaker.Release (a request released costs nothing locally).
func (l *Local) Release(st store.Store, key string, tok Token, now time.Time) error {
	return l.b.Release(st, key, tok, now)
}

// Tick is the worker's timer: every view with pending successes is flushed
// (one store.Update each, which also refreshes the view), and every other
// view that admitted locally since the last tick is re-read (one store
// read). Each transition a flush caused is handed to on (when not nil)
// with its key. The first error is returned; a view whose flush failed
// keeps its successes for the next tick and stops admitting locally until
// it is read again.
func (l *Local) Tick(st store.Store, now time.Time, on func(key string, t Transition)) error {
	var first error
	for i := range l.views {
		v := &l.views[i]
		used := v.used
		v.used = false
		if !v.held || (v.pending == 0 && !(used && v.local)) {
			continue
		}
		// One Update: it adds the pending successes (if any) and reads the
		// record, a read only when there is nothing to add.
		var o observed
		key := string(v.key)
		tr, err := l.b.record(st, key, now, false, Token{}, Outcome{}, v.pending, v.gen, &o)
		if err != nil {
			v.local = false
			if first == nil {
				first = err
			}
			continue
		}
		v.pending = 0
		if on != nil {
			for _, t := range tr {
				on(key, t)
			}
		}
		l.keep(st, i, "", &o, now)
	}
	return first
}
