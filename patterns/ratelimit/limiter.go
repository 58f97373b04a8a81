package ratelimit

import (
	"bytes"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// DefaultMaxKeys is the bound on keys of a limit when none is given
// (the configuration's max_keys default).
const DefaultMaxKeys = 10000

// Limiter keeps the per-key states of one configured limit in a store,
// bounded by a store.Table (max_keys entries, 4-way set associative). Only
// an idle state is replaced by a new key (one not written for the limit's
// recovery time, see Recovery); a new key whose set holds none is decided
// by the limit's overflow state (doc.go, "Idle and overflow"). It holds no
// mutable state of its own and is safe for concurrent use; the store
// serializes updates (store.Update).
type Limiter struct {
	table store.Table
	// compiled are settings validated and derived once (Precompile), looked
	// up by equality before compiling a Settings again.
	compiled []compiled
	// hk is the table's hash key (SetHashKey), which leases hash under too.
	hk store.HashKey
	// leases are the worker's leases (SetLeases), nil without.
	leases *Leases
}

// compiled is one Settings as given and its params.
type compiled struct {
	_ [0]func() // not comparable: no equality function in the binary
	s Settings
	q params
}

// MaxPrecompiled bounds the settings a Limiter keeps compiled (Precompile):
// the lookup is a linear scan, cheaper than compiling only for a few.
const MaxPrecompiled = 8

// NewLimiter returns a limiter whose states live under prefix, for at most
// maxKeys keys (maxKeys < 1 means DefaultMaxKeys). Its states are never
// idle until SetRecovery says when they are.
func NewLimiter(prefix string, maxKeys int) *Limiter {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{table: store.NewTable(prefix, maxKeys).WithIdle(idleAfter(4 * MaxSpan))}
}

// NewKeyedLimiter is NewLimiter then SetHashKey(k) and SetRecovery(d), with
// its table built once.
func NewKeyedLimiter(prefix string, maxKeys int, k store.HashKey, d time.Duration) *Limiter {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{table: store.NewTable(prefix, maxKeys).WithIdle(idleAfter(d)).WithHashKey(k), hk: k}
}

// SetRecovery makes a state idle (replaceable by a new key) once d has
// passed since its last write. d must be at least the Recovery of every
// Settings the limiter is used with: a smaller one lets a state that has not
// refilled be replaced. Call it before use.
func (l *Limiter) SetRecovery(d time.Duration) { l.table = l.table.WithIdle(idleAfter(d)) }

// SetHashKey makes the limiter hash its keys under k (see store.HashKey).
// Call it before use.
func (l *Limiter) SetHashKey(k store.HashKey) { l.table, l.hk = l.table.WithHashKey(k), k }

// Precompile validates and derives each valid one of ss once (up to
// MaxPrecompiled in all; the others and any invalid one are skipped), so a
// decision under settings equal to one of them does not validate and
// derive them again. It changes no decision, only the work per call.
// Call it before use.
func (l *Limiter) Precompile(ss ...Settings) {
	for _, s := range ss {
		if len(l.compiled) == MaxPrecompiled {
			return
		}
		if _, ok := l.lookup(s); ok {
			continue
		}
		if q, ok := compile(s); ok {
			l.compiled = append(l.compiled, compiled{s: s, q: q})
		}
	}
}

// lookup returns the precompiled params of s, if any.
func (l *Limiter) lookup(s Settings) (*params, bool) {
	for i := range l.compiled {
		if l.compiled[i].s == s {
			return &l.compiled[i].q, true
		}
	}
	return nil, false
}

// params returns s compiled: precompiled when it is one of Precompile's,
// else compiled now (ok false: invalid settings).
func (l *Limiter) params(s Settings) (params, bool) {
	if q, ok := l.lookup(s); ok {
		return *q, true
	}
	return compile(s)
}

// Table returns the table holding the states (its capacity bounds memory).
func (l *Limiter) Table() store.Table { return l.table }

// idleAfter is the Limiter's store.Idler: a state last written at least
// that long ago (in nanoseconds) is back at full capacity.
type idleAfter time.Duration

func (d idleAfter) Idle(_ []byte, last, now int64) bool {
	return now-last >= int64(d) || now < last-int64(MaxSpan)
}

// Recovery bounds the time any state of s takes, without requests, to be
// back at full capacity: burst × per / requests for token_bucket and gcra
// (a bucket refilled from empty), that plus max_delay for leaky_bucket (the
// debt it may queue), per for fixed_window (the window of the last write
// ends), 2 × per for sliding_window (the previous window's weight is gone),
// plus 1 ms for rounding. s must be normalized.
func (s Settings) Recovery() time.Duration {
	var d time.Duration
	switch s.Algorithm {
	case FixedWindow:
		d = s.Per
	case SlidingWindow:
		d = 2 * s.Per
	default:
		burst := s.Burst
		if burst == 0 {
			burst = s.Requests
		}
		// per, burst and requests are bounded by MaxSpan and MaxCount, so
		// the float product cannot overflow; the sum is capped below.
		d = time.Duration(float64(s.Per)*float64(burst)/float64(max(s.Requests, 1))) + s.MaxDelay
	}
	d += time.Millisecond
	if d < 0 || d > 4*MaxSpan {
		d = 4 * MaxSpan
	}
	return d
}

// MaxStoreKeys is the number of store keys the limiter can ever write,
// whatever the number of distinct keys it sees.
func (l *Limiter) MaxStoreKeys() int { return l.table.Sets() }

// Capacity is the number of keys whose states the limiter keeps.
func (l *Limiter) Capacity() int { return l.table.Capacity() }

// Allow decides a request of n for key at now under s (see Decide) and
// stores the key's next state. Invalid settings return the Normalize error;
// a store that keeps failing returns its error (store.ErrContended after
// store.MaxAttempts conflicts), with a zero Decision: nothing was admitted.
func (l *Limiter) Allow(st store.Store, key string, s Settings, now time.Time, n int64) (Decision, error) {
	d, _, _, err := l.allow(st, key, s, now, n, false)
	return d, err
}

// allow is Allow that, with keep, also returns copies of the state it read
// (nil: the key had none) and of the state it wrote (nil: no write).
func (l *Limiter) allow(st store.Store, key string, s Settings, now time.Time, n int64, keep bool) (Decision, []byte, []byte, error) {
	q, ok := l.params(s)
	if !ok {
		_, err := s.Normalize()
		return Decision{}, nil, nil, err
	}
	var arena []byte
	var tk taken
	err := l.allowQ(&tk, st, key, &q, now, n, keep, &arena, false, nil)
	return tk.d, tk.prev, tk.wrote, err
}

// taken is what one store update of allowQ did.
type taken struct {
	d Decision
	// n: the requests taken (the request's, or a lease's).
	n           uint64
	prev, wrote []byte
	// over: the state was the overflow state; refunded: old's unused
	// requests were given back in the same update; settled: old's state
	// was the one updated, so nothing of old is left to give back
	// (refunded, or the state no longer counts them: a bucket full
	// again, a later window); seen: the key is to be remembered as seen
	// (Leases).
	over, refunded, settled, seen bool
}

// allowQ decides a request of n for key under settings compiled into q and
// writes the next state, recording what it did in *tk (zero on error).
// With keep, the copy of the state read is appended to *arena (one buffer
// for the copies of all the checks of an AllowAll; a copy already there is
// never overwritten). The next state is appended to
// the set value the table builds (store.Table.UpdateAppend): the state
// written is a slice of that value. With lease, a state with at least
// 2×LeaseDivisor remaining gives floor(remaining/LeaseDivisor) requests
// instead of n (never refused: at most what remains). old, when not nil,
// is an ended lease of key whose unused requests are given back first, in
// the same update, when it was taken from the same state (the overflow
// state's dst is empty: store.Table.UpdateAppend).
func (l *Limiter) allowQ(tk *taken, st store.Store, key string, q *params, now time.Time, n int64, keep bool, arena *[]byte, lease bool, old *lease) error {
	t := clampNow(now)
	*tk = taken{}
	start := len(*arena)
	over, err := l.table.UpdateAppend(st, key, now.UnixNano(), 32, func(dst, cur []byte) ([]byte, bool, error) {
		base := cur
		tk.refunded, tk.settled = false, false
		if old != nil && (len(dst) == 0) == old.over {
			tk.settled = true
			lz := l.leases
			if r := q.refundLease(lz.scratch[:0], cur, t, old); r != nil {
				base, lz.scratch, tk.refunded = r, r[:0], true
			}
		}
		if keep {
			*arena = append((*arena)[:start], base...)
			tk.prev = (*arena)[start:len(*arena):len(*arena)]
			if len(base) == 0 { // as a copy by append: nil for no state
				tk.prev = nil
			}
		}
		tk.n = uint64(max(n, 0))
		if lease {
			if d0, _ := q.decide(nil, base, t, 0); d0.Remaining >= 2*LeaseDivisor {
				tk.n = uint64(d0.Remaining) / LeaseDivisor
			}
		}
		var nx []byte
		tk.d, nx = q.decide(dst, base, t, tk.n)
		tk.wrote = nil
		if nx != nil {
			tk.wrote = nx[len(dst):len(nx):len(nx)]
		} else if tk.refunded {
			nx = append(dst, base...)
		}
		return nx, nx != nil, nil
	})
	if err != nil {
		*tk = taken{}
		return err
	}
	tk.over = over
	return nil
}

// Refund gives back n requests of key admitted at (about) now (see Refund).
func (l *Limiter) Refund(st store.Store, key string, s Settings, now time.Time, n int64) error {
	q, ok := l.params(s)
	if !ok {
		_, err := s.Normalize()
		return err
	}
	if n <= 0 {
		return nil
	}
	t := clampNow(now)
	return l.table.Update(st, key, now.UnixNano(), func(cur []byte) ([]byte, bool, error) {
		nx := q.refund(nil, cur, t, uint64(n))
		return nx, nx != nil, nil
	})
}

// undo reverts an admission made by allow: when the key's state is still
// exactly the one that admission wrote, the state read before it is put
// back (byte for byte; a key that had none gets an empty state, which reads
// as fresh); otherwise someone wrote in between and n is refunded instead.
func (l *Limiter) undo(st store.Store, key string, s Settings, now time.Time, n int64, prev, wrote []byte) error {
	q, ok := l.params(s)
	if !ok || n <= 0 || wrote == nil {
		return nil
	}
	t := clampNow(now)
	return l.table.Update(st, key, now.UnixNano(), func(cur []byte) ([]byte, bool, error) {
		if bytes.Equal(cur, wrote) {
			if prev == nil {
				return []byte{}, true, nil
			}
			return prev, true, nil
		}
		nx := q.refund(nil, cur, t, uint64(n))
		return nx, nx != nil, nil
	})
}

// Peek returns what a request of 0 for key would see at now, without writing.
func (l *Limiter) Peek(st store.Store, key string, s Settings, now time.Time) (Decision, error) {
	if _, err := s.Normalize(); err != nil {
		return Decision{}, err
	}
	cur, err := l.table.Get(st, key, now.UnixNano())
	if err != nil {
		return Decision{}, err
	}
	return Peek(s, cur, now), nil
}

// Check is one limit a request must pass: the limiter of the limit, the
// request's key for it and the settings of the request's tier.
type Check struct {
	Limiter  *Limiter
	Key      string
	Settings Settings
}

// Result is the outcome of AllowAll.
type Result struct {
	// Allowed: every limit admitted the request.
	Allowed bool
	// Decisions[i] is the decision of checks[i]. When a limit rejects, the
	// limits after it are not consulted (their Decision is zero) and those
	// before it show the admission that was then refunded.
	Decisions []Decision
	// Deciding is the index of the rejecting limit; when allowed, that of the
	// most restrictive one (fewest Remaining, ties to the longest Reset, then
	// to the first): the one whose values go into the RateLimit headers.
	// -1 when there are no checks.
	Deciding int
	// Delay is the longest delay asked by a leaky_bucket limit (allowed only).
	Delay time.Duration
}

// AllowAll admits a request of n only if every check admits it. The checks
// are decided in order, each through its own store update (there is no
// atomic multi-key update in Envoy shared data); when check k rejects (or
// fails), the admissions of checks 0..k-1 are undone in reverse order, so a
// request rejected by one limit consumes nothing from the others. The undo
// restores the exact previous state of a key when nobody wrote it in between,
// and otherwise refunds n (see Refund). Between the admission and its undo,
// another request may see the earlier limits' n as consumed: a transient,
// conservative effect.
//
// On a store error the admissions made are undone (best effort) and the
// error is returned with Allowed false; the caller chooses to fail open or
// closed.
func AllowAll(st store.Store, now time.Time, n int64, checks []Check) (Result, error) {
	return AllowAllInto(nil, st, now, n, checks)
}

// Buffers are a caller's buffers that AllowAllInto reuses from call to
// call: the Decisions of its Result and the copies of the states read
// (for the undo). The zero Buffers is ready; not safe for concurrent use
// (one per goroutine; the filter keeps one per VM).
type Buffers struct {
	decisions []Decision
	states    []byte
}

// AllowAllInto is AllowAll reusing buf (nil: AllowAll's own buffers): the
// Result's Decisions are buf's until the next call with buf, and the copies
// of the states read live in buf (a rollback puts a state back by copying it
// into the set value the table writes: the store never holds buf's memory).
func AllowAllInto(buf *Buffers, st store.Store, now time.Time, n int64, checks []Check) (Result, error) {
	ds := buf.decisionsFor(len(checks))
	var arena []byte
	if buf != nil {
		arena = buf.states[:0]
	}
	var res Result
	var err error
	if n == 1 && anyLeases(checks) {
		res, arena, err = allowLeased(ds, arena, st, now, checks)
	} else {
		res, arena, err = allowStore(ds, arena, st, now, n, checks, nil)
	}
	if buf != nil {
		buf.states = arena[:0] // the grown capacity is kept
	}
	return res, err
}

// pick sets the Delay of an admission and its Deciding check: the most
// restrictive (fewest Remaining, ties to the longest Reset, then first).
func (res *Result) pick() {
	for i := range res.Decisions {
		d := &res.Decisions[i]
		res.Delay = max(res.Delay, d.Delay)
		if res.Deciding < 0 {
			res.Deciding = i
			continue
		}
		b := &res.Decisions[res.Deciding]
		if d.Remaining < b.Remaining || d.Remaining == b.Remaining && d.Reset > b.Reset {
			res.Deciding = i
		}
	}
}

// decisionsFor returns n cleared Decisions: buf's (grown when short), or
// new ones for a nil buf.
func (buf *Buffers) decisionsFor(n int) []Decision {
	if buf != nil && cap(buf.decisions) >= n {
		ds := buf.decisions[:n]
		clear(ds)
		return ds
	}
	ds := make([]Decision, n)
	if buf != nil {
		buf.decisions = ds
	}
	return ds
}

// anyLeases says whether some check has Leases.
func anyLeases(checks []Check) bool {
	for i := range checks {
		if checks[i].Limiter.leases != nil {
			return true
		}
	}
	return false
}

// MaxStateBytes bounds the state of one key under algorithm a (doc.go,
// "Limiter, keys and memory"): 117 bytes for sliding_window (11 counters of
// 9 bytes and its header), 27 for the others.
func MaxStateBytes(a Algorithm) int {
	if a == SlidingWindow {
		return 117
	}
	return 27
}
