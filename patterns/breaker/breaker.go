package breaker

import (
	"math"
	"math/bits"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// Outcome is what became of an admitted request. It is slow when the
// breaker tracks slow calls (SlowCallDuration > 0) and
// Duration >= SlowCallDuration; a call can be both a failure and slow.
type Outcome struct {
	Failure  bool
	Duration time.Duration
}

// Token is returned by Allow and handed back to Report or Release. It is a
// small value meant to be carried by the HTTP context from admission to
// outcome. The zero Token is never recorded.
type Token struct {
	// Generation is the generation of the key's state that admitted the
	// request; an outcome is recorded only while it is still current.
	Generation uint32
	// Probe marks one of the half_open_calls probes of a half-open breaker.
	Probe bool
	// WouldReject is set in Observe mode on a request that Enforce would
	// have rejected; it was admitted only because the breaker observes, and
	// its outcome is not recorded.
	WouldReject bool
	// slot is the probe slot (0..63) of a probe.
	slot uint8
}

// Transition describes one change of generation of a key's state, returned
// to the caller that caused it (one log line and one transitions_total
// increment each). From == To == HalfOpen means the probes of a half-open
// breaker expired unreported and were re-armed (see doc.go).
type Transition struct {
	_        [0]func() // not comparable: no generated equality in the .wasm
	From, To State
	// FailureRate, SlowRate and Calls describe the window (closed -> open)
	// or the probes reported (half-open -> open / closed) that caused the
	// transition; they are 0 for transitions to half-open.
	FailureRate, SlowRate float64
	Calls                 int
	// Trip is the number of trips in a row after the transition (0 once
	// closed); open duration = open_duration × open_backoff^(Trip-1), capped.
	Trip int
	// Generation is the generation the transition started.
	Generation uint32
	// At is the instant passed to the call that made the transition.
	At time.Time
}

// Snapshot is the stored state of one key, for metrics, logs and tests.
type Snapshot struct {
	// State is the stored state; State() reports the effective one (an open
	// breaker whose open duration has elapsed is half-open for State()).
	State      State
	Generation uint32
	Trip       int
	// Since is when the generation started (closed, open) or when the last
	// probe was admitted (half-open).
	Since time.Time
	// OpenUntil is when an open breaker turns half-open (zero otherwise).
	OpenUntil time.Time
	// Calls, Failures and Slow count the window as seen at the instant
	// passed to Inspect (closed state only; zero otherwise).
	Calls, Failures, Slow int
	ConsecutiveFailures   int
	// ProbesAdmitted counts the half-open probe slots in use (admitted and
	// not released), ProbesSucceeded those reported successful.
	ProbesAdmitted, ProbesSucceeded int
}

// Breaker is the circuit breaker of one policy. Its state lives in a
// store.Store (Envoy shared data), one record per key, in a store.Table
// bounded by maxKeys, so every worker holding a Breaker with the same prefix
// and settings shares it. A Breaker is immutable and safe for concurrent use,
// unless ReuseBuffer gave it a buffer.
type Breaker struct {
	s   Settings
	sh  shape
	tab store.Table
	hk  store.HashKey // the table's, also a Local's index
	err error
}

// New returns a breaker keeping its state under prefix for at most maxKeys
// keys (store.NewTable rounding; < 1 means 1). s is normalized; settings
// that do not pass Normalize make every method return that error.
func New(prefix string, maxKeys int, s Settings) *Breaker {
	ns, err := s.Normalize()
	b := &Breaker{s: ns, tab: store.NewTable(prefix, maxKeys), err: err}
	if err == nil {
		b.sh = shapeOf(&ns)
	}
	b.tab = b.tab.WithIdle(idler{b})
	return b
}

// Settings returns the normalized settings.
func (b *Breaker) Settings() Settings { return b.s }

// Err is the Normalize error of the settings given to New, nil when they
// are valid.
func (b *Breaker) Err() error { return b.err }

// Table returns the table holding the records (its capacity bounds memory).
func (b *Breaker) Table() store.Table { return b.tab }

// ReuseBuffer makes the updates that build the record in the value
// written (Report, a Local's flush) build it in one buffer kept between
// calls (store.Table.WithBuffer) instead of a new one per call. b is then
// for one caller at a time (one worker), and its store's Set must copy the
// value it is given (Envoy's shared data does). Call it before use.
func (b *Breaker) ReuseBuffer() { b.tab = b.tab.WithBuffer(new([]byte)) }

// SetHashKey makes the breaker hash its keys under k (see store.HashKey).
// Call it before use.
func (b *Breaker) SetHashKey(k store.HashKey) { b.tab, b.hk = b.tab.WithHashKey(k), k }

// idler is the Breaker's store.Idler (see doc.go, "Idle").
type idler struct{ b *Breaker }

// Idle says whether a record may be replaced by another key: a closed
// breaker with no failure and no slow call in its window at now and no
// consecutive failures. An open or half-open breaker is live.
func (i idler) Idle(state []byte, _, now int64) bool {
	r, win := i.b.view(state)
	if r.state != Closed || r.consec != 0 {
		return false
	}
	if win == nil {
		return true
	}
	_, fails, slows := i.b.sh.counts(win, now)
	return fails == 0 && slows == 0
}

// view decodes cur for reading: a corrupt or absent record is fresh(), a
// window of another shape (settings changed) is empty (nil).
func (b *Breaker) view(cur []byte) (rec, []byte) {
	r, win, ok := decodeRecord(cur)
	if !ok || !b.sh.matches(r.wtype, win) {
		win = nil
	}
	return r, win
}

// materialize returns a new record buffer holding r's window (or an empty
// one at now when win is nil); the header is written by r.put.
func (b *Breaker) materialize(r *rec, win []byte, now int64) []byte {
	return b.appendMaterialize(nil, r, win, now)
}

// appendMaterialize is materialize appending the record to dst: the record
// is the returned slice from len(dst) on.
func (b *Breaker) appendMaterialize(dst []byte, r *rec, win []byte, now int64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, hdrLen+b.sh.size)...)
	buf := dst[n:]
	if win != nil {
		copy(buf[hdrLen:], win)
	} else {
		b.sh.reset(buf[hdrLen:], now)
	}
	r.wtype = b.sh.wtype
	return dst
}

// move starts a new generation in state to, with an empty window.
func (b *Breaker) move(r *rec, w []byte, to State, now time.Time) Transition {
	from := r.state
	ns := now.UnixNano()
	r.state = to
	r.gen++
	if r.gen == 0 {
		r.gen = 1
	}
	r.at = ns
	r.pending, r.done, r.consec = 0, 0, 0
	b.sh.reset(w, ns)
	return Transition{From: from, To: to, Trip: int(r.trip), Generation: r.gen, At: now}
}

type action uint8

const (
	admitClosed   action = iota // closed: admit, nothing to write
	reject                      // open, or half-open without a free probe slot
	probe                       // half-open: admit a probe
	halfOpenProbe               // open for long enough: turn half-open, admit a probe
	rearmProbe                  // half-open probes expired: new half-open generation, admit a probe
)

// elapsed is now - at without overflow. A stored instant more than
// MaxOpenDuration ahead of now (a clock stepped back, a damaged record) counts
// as long past, so it can never keep a breaker open or a probe slot taken.
func (b *Breaker) elapsed(now, at int64) int64 {
	if at > now {
		if at-now < 0 || at-now > int64(b.s.MaxOpenDuration) { // at-now < 0: overflow
			return math.MaxInt64
		}
		return now - at
	}
	if d := now - at; d >= 0 {
		return d
	}
	return math.MaxInt64 // overflow: at is far in the past
}

// decide is the admission decision on r at now; it does not modify r.
func (b *Breaker) decide(r *rec, now int64) action {
	switch r.state {
	case Closed:
		return admitClosed
	case Open:
		if b.elapsed(now, r.at) < int64(b.s.openFor(r.trip)) {
			return reject
		}
		return halfOpenProbe
	}
	if r.taken() < b.s.HalfOpenCalls {
		return probe
	}
	if b.elapsed(now, r.at) >= int64(b.s.HalfOpenMaxWait) {
		return rearmProbe
	}
	return reject
}

func (b *Breaker) rejected(gen uint32) (Token, bool) {
	if b.s.Mode == Observe {
		return Token{Generation: gen, WouldReject: true}, true
	}
	return Token{}, false
}

// Allow decides whether a request of key may proceed at now. It returns the
// token to hand to Report or Release, and the transition it made (the lazy
// open -> half-open one, or a re-arm of expired probes), if any.
//
// Closed, and open or half-open without a free slot, cost one store read;
// admitting a half-open probe (and turning half-open) is one store.Update.
// ForcedOpen rejects and Disabled admits without touching the store. On a
// store error tok is zero and allowed is false; the caller decides whether
// to fail open (a zero token is never recorded).
func (b *Breaker) Allow(st store.Store, key string, now time.Time) (tok Token, allowed bool, tr []Transition, err error) {
	return b.allow(st, key, now, nil)
}

// allow is Allow; when obs is not nil it is filled with the state read (or
// written) by the last attempt (see observed).
func (b *Breaker) allow(st store.Store, key string, now time.Time, obs *observed) (tok Token, allowed bool, tr []Transition, err error) {
	if b.err != nil {
		return Token{}, false, nil, b.err
	}
	switch b.s.Mode {
	case Disabled:
		return Token{}, true, nil, nil
	case ForcedOpen:
		return Token{}, false, nil, nil
	}
	ns := now.UnixNano()
	var t Transition
	var hasT bool
	// One Update: closed, and open or half-open without a free slot, only
	// read (no write: one store read, as Table.Get would).
	err = b.tab.Update(st, key, ns, func(cur []byte) ([]byte, bool, error) {
		hasT = false
		r, win := b.view(cur)
		act := b.decide(&r, ns)
		switch act {
		case admitClosed:
			obs.set(b, &r, win, ns)
			tok, allowed = Token{Generation: r.gen}, true
			return nil, false, nil
		case reject:
			obs.set(b, &r, win, ns)
			tok, allowed = b.rejected(r.gen)
			return nil, false, nil
		}
		buf := b.materialize(&r, win, ns)
		switch act {
		case halfOpenProbe:
			t, hasT = b.move(&r, buf[hdrLen:], HalfOpen, now), true
		case rearmProbe:
			t, hasT = b.move(&r, buf[hdrLen:], HalfOpen, now), true
		}
		// The lowest free slot: taken() < HalfOpenCalls <= 64 guarantees
		// one below HalfOpenCalls.
		slot := bits.TrailingZeros64(^(r.pending | r.done))
		r.pending |= 1 << slot
		r.at = ns
		r.put(buf)
		obs.set(b, &r, nil, ns)
		tok, allowed = Token{Generation: r.gen, Probe: true, slot: uint8(slot)}, true
		return buf, true, nil
	})
	if err != nil {
		return Token{}, false, nil, err
	}
	if hasT {
		tr = []Transition{t}
	}
	return tok, allowed, tr, nil
}

func rate(n, calls int) float64 {
	if calls == 0 {
		return 0
	}
	return float64(n) / float64(calls)
}

func incSat(v uint32) uint32 {
	if v == math.MaxUint32 {
		return v
	}
	return v + 1
}

// Report records the outcome of a request admitted with tok, at now. It is
// ignored (no store access) for a zero or WouldReject token and in
// ForcedOpen and Disabled modes, and ignored (one store read) when tok's
// generation is no longer current. Otherwise it is one store.Update and
// returns the transition it caused, if any: closed -> open when the window
// or the consecutive-failure rule trips; half-open -> open on a failed or
// slow probe; half-open -> closed when half_open_calls probes succeeded.
func (b *Breaker) Report(st store.Store, key string, tok Token, now time.Time, o Outcome) (tr []Transition, err error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.s.Mode >= ForcedOpen || tok.Generation == 0 || tok.WouldReject {
		return nil, nil
	}
	return b.record(st, key, now, true, tok, o, 0, 0, nil)
}

// slow says whether an outcome is slow under the settings.
func (b *Breaker) slow(o Outcome) bool {
	return b.s.SlowCallDuration > 0 && o.Duration >= b.s.SlowCallDuration
}

// trips is the closed-state rule: whether the window w and r's consecutive
// failures open the breaker at now, with the window's rates and calls.
func (b *Breaker) trips(r *rec, w []byte, now int64) (trip bool, fr, sr float64, calls int) {
	calls, fails, slows := b.sh.counts(w, now)
	fr, sr = rate(fails, calls), rate(slows, calls)
	trip = (b.s.ConsecutiveFailures > 0 && int64(r.consec) >= int64(b.s.ConsecutiveFailures)) ||
		(calls >= b.s.MinimumCalls && (fr >= b.s.FailureRateThreshold || (b.s.SlowCallDuration > 0 && sr >= b.s.SlowCallRateThreshold)))
	return trip, fr, sr, calls
}

// record is one store.Update of key at now that first adds succ successes
// of generation succGen (a Local's pending successes; ignored unless the
// record is closed at that generation), then, when hasTok, the outcome o of
// tok exactly as Report does. obs, when not nil, is filled with the state
// read or written.
func (b *Breaker) record(st store.Store, key string, now time.Time, hasTok bool, tok Token, o Outcome, succ, succGen uint32, obs *observed) (tr []Transition, err error) {
	ns := now.UnixNano()
	slow := b.slow(o)
	var t Transition
	var hasT bool
	// The record is built in the set value being written (UpdateAppend).
	_, err = b.tab.UpdateAppend(st, key, ns, hdrLen+b.sh.size, func(dst, cur []byte) ([]byte, bool, error) {
		hasT = false
		r, win := b.view(cur)
		merge := succ > 0 && r.gen == succGen && r.state == Closed
		if !merge && (!hasTok || !b.current(&r, tok)) {
			// Stale generation, a token that does not fit the state, or a
			// probe already reported or released.
			obs.set(b, &r, win, ns)
			return nil, false, nil
		}
		out := b.appendMaterialize(dst, &r, win, ns)
		buf := out[len(dst):]
		w := buf[hdrLen:]
		clean := false
		if merge {
			t, hasT, clean = b.addSuccesses(&r, w, now, succ)
		}
		if hasTok && b.current(&r, tok) {
			clean = false
			if r.state == Closed {
				b.sh.add(w, ns, o.Failure, slow)
				if o.Failure {
					r.consec = incSat(r.consec)
				} else {
					r.consec = 0
				}
				if trip, fr, sr, calls := b.trips(&r, w, ns); trip {
					r.trip = incSat(r.trip)
					t, hasT = b.move(&r, w, Open, now), true
					t.FailureRate, t.SlowRate, t.Calls = fr, sr, calls
				}
			} else { // half-open probe
				bit := uint64(1) << (tok.slot & 63)
				r.pending &^= bit
				if o.Failure || slow {
					calls := bits.OnesCount64(r.done) + 1
					f, s := 0, 0
					if o.Failure {
						f = 1
					}
					if slow {
						s = 1
					}
					r.trip = incSat(r.trip)
					t, hasT = b.move(&r, w, Open, now), true
					t.FailureRate, t.SlowRate, t.Calls = rate(f, calls), rate(s, calls), calls
				} else {
					r.done |= bit
					if calls := bits.OnesCount64(r.done); calls >= b.s.HalfOpenCalls {
						r.trip = 0
						t, hasT = b.move(&r, w, Closed, now), true
						t.Calls = calls
					}
				}
			}
		}
		r.put(buf)
		if clean && obs != nil && b.sh.wtype == CountWindow {
			// Successes added to a clean count window: still clean, its
			// calls are the filled slots (no popcount again).
			*obs = observed{ok: true, closed: true, gen: r.gen, stored: true}
			obs.closedCounts(b, &r, int(le.Uint32(w[4:])), 0, 0)
		} else {
			obs.set(b, &r, w, ns)
		}
		return out, true, nil
	})
	if err != nil {
		return nil, err
	}
	if hasT {
		tr = []Transition{t}
	}
	return tr, nil
}

// current says whether tok's outcome is recorded in r: its generation, a
// token that fits the state (a probe in half-open, a request in closed,
// nothing while open) and, for a probe, a slot still pending.
func (b *Breaker) current(r *rec, tok Token) bool {
	return r.gen == tok.Generation && (r.state == Closed) != tok.Probe && r.state != Open &&
		(!tok.Probe || r.pending&(1<<(tok.slot&63)) != 0)
}

// Release ends a request admitted with tok that will have no outcome (the
// stream ended before the response). It counts neither as a success nor as
// a failure. For a half-open probe of the current generation it frees the
// probe slot (one store.Update) so another request can probe; otherwise it
// does nothing (no store access unless tok is a probe). Hand each token back
// once, to Report or to Release: a probe slot already reported or released
// is ignored, but a slot released and taken again by a new probe of the same
// generation cannot be told from the original.
func (b *Breaker) Release(st store.Store, key string, tok Token, now time.Time) error {
	if b.err != nil {
		return b.err
	}
	if b.s.Mode >= ForcedOpen || tok.Generation == 0 || !tok.Probe || tok.WouldReject {
		return nil
	}
	ns := now.UnixNano()
	return b.tab.Update(st, key, ns, func(cur []byte) ([]byte, bool, error) {
		r, win := b.view(cur)
		bit := uint64(1) << (tok.slot & 63)
		if r.gen != tok.Generation || r.state != HalfOpen || r.pending&bit == 0 {
			return nil, false, nil
		}
		buf := b.materialize(&r, win, ns)
		r.pending &^= bit
		r.put(buf)
		return buf, true, nil
	})
}

// State returns the effective state of key at now without writing: an open
// breaker whose open duration has elapsed is reported half-open (the
// transition itself happens on the next Allow). ForcedOpen reports Open and
// Disabled reports Closed without touching the store. Observe reports the
// state Enforce would be in.
func (b *Breaker) State(st store.Store, key string, now time.Time) (State, error) {
	if b.err != nil {
		return Closed, b.err
	}
	switch b.s.Mode {
	case Disabled:
		return Closed, nil
	case ForcedOpen:
		return Open, nil
	}
	cur, err := b.tab.Get(st, key, now.UnixNano())
	if err != nil {
		return Closed, err
	}
	r, _ := b.view(cur)
	if r.state == Open && b.decide(&r, now.UnixNano()) != reject {
		return HalfOpen, nil
	}
	return r.state, nil
}

// Inspect returns the stored state of key, with the window counted as seen
// at now. It never writes.
func (b *Breaker) Inspect(st store.Store, key string, now time.Time) (Snapshot, error) {
	if b.err != nil {
		return Snapshot{}, b.err
	}
	cur, err := b.tab.Get(st, key, now.UnixNano())
	if err != nil {
		return Snapshot{}, err
	}
	r, win := b.view(cur)
	s := Snapshot{
		State: r.state, Generation: r.gen, Trip: int(r.trip), Since: time.Unix(0, r.at),
		ConsecutiveFailures: int(r.consec),
		ProbesAdmitted:      r.taken(), ProbesSucceeded: bits.OnesCount64(r.done),
	}
	switch r.state {
	case Closed:
		s.Calls, s.Failures, s.Slow = b.sh.counts(win, now.UnixNano())
	case Open:
		s.OpenUntil = time.Unix(0, r.at).Add(b.s.openFor(r.trip))
	}
	return s, nil
}
