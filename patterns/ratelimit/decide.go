package ratelimit

import (
	"time"
)

// Decision is the outcome of one admission decision and the values of the
// RateLimit headers for it (docs/configuration.md).
type Decision struct {
	// Allowed says whether the request of n is admitted.
	Allowed bool
	// Delay (leaky_bucket only) > 0 means admitted, but the request must wait
	// this long before it goes upstream; it is at most MaxDelay.
	Delay time.Duration
	// Limit is the capacity: Burst for token_bucket, gcra and leaky_bucket,
	// Requests for fixed_window and sliding_window.
	Limit int64
	// Remaining is what is left right after this request (nothing is
	// consumed by a rejected request).
	Remaining int64
	// Reset is the time until Remaining is back to Limit (0 when it is).
	Reset time.Duration
	// RetryAfter, on rejection, is the earliest time from now at which a
	// request of n could pass if nothing else is admitted meanwhile; Never
	// when n exceeds what the limit can ever admit at once. 0 when Allowed.
	RetryAfter time.Duration
}

// Decide decides a request of n (n < 0 counts as 0) at now on the encoded
// state of one key (nil or corrupt: a fresh key). It returns the decision and
// the next encoded state, or a nil next state when nothing needs writing (a
// rejection, a request of 0). Decide is pure: state is not modified and next
// never shares memory with it. Invalid settings (see Normalize) reject every
// request with RetryAfter Never.
func Decide(s Settings, state []byte, now time.Time, n int64) (Decision, []byte) {
	return AppendDecide(nil, s, state, now, n)
}

// AppendDecide is Decide that appends the next state to dst (so a caller that
// reuses dst decides without allocating). It returns nil instead of dst when
// nothing needs writing.
func AppendDecide(dst []byte, s Settings, state []byte, now time.Time, n int64) (Decision, []byte) {
	q, ok := compile(s)
	if !ok {
		return Decision{RetryAfter: Never}, nil
	}
	return q.decide(dst, state, clampNow(now), uint64(max(n, 0)))
}

// Peek returns what a request of 0 would see at now (Allowed, Remaining,
// Reset, Limit) without consuming anything: the values for response headers.
func Peek(s Settings, state []byte, now time.Time) Decision {
	d, _ := Decide(s, state, now, 0)
	return d
}

// Refund gives back n requests admitted at (about) now and returns the next
// state, or nil when there is nothing to write (a fresh or corrupt state, a
// bucket already full, a window already rolled over). What is given back per
// algorithm is in doc.go; a refund never makes a limit admit more than a
// fresh key would.
func Refund(s Settings, state []byte, now time.Time, n int64) []byte {
	q, ok := compile(s)
	if !ok || n <= 0 {
		return nil
	}
	return q.refund(nil, state, clampNow(now), uint64(n))
}

func (q *params) decide(dst, st []byte, t int64, n uint64) (Decision, []byte) {
	switch q.alg {
	case TokenBucket:
		return q.tokenBucket(dst, st, t, n)
	case GCRA, LeakyBucket:
		return q.virtualScheduling(dst, st, t, n)
	case FixedWindow:
		return q.fixedWindow(dst, st, t, n)
	default:
		return q.slidingWindow(dst, st, t, n)
	}
}

func (q *params) refund(dst, st []byte, t int64, n uint64) []byte {
	switch q.alg {
	case TokenBucket:
		last, w, ok := q.decodeTB(st)
		if !ok {
			return nil
		}
		last, w = q.refill(last, w, t)
		if w == q.b {
			return nil
		}
		return appendTB(dst, last, min(q.b, satAdd(w, n)))
	case GCRA, LeakyBucket:
		tat, ok := q.decodeTAT(st)
		if !ok || !(vt{ns: t}).less(tat) {
			return nil
		}
		if n >= q.debt(tat, t) {
			tat = vt{ns: t}
		} else {
			tat = q.sub(tat, n)
			if tat.less(vt{ns: t}) {
				tat = vt{ns: t}
			}
		}
		return appendTAT(dst, q.alg, tat)
	case FixedWindow:
		end, count, ok := decodeFixed(st)
		if !ok || count == 0 || end <= t/int64(q.p)*int64(q.p) {
			return nil
		}
		return appendFixed(dst, end, count-min(count, n))
	default:
		r, ok := q.loadRing(st, t)
		if !ok {
			return nil
		}
		changed := false
		for i := range r.c {
			if n == 0 {
				break
			}
			k := min(r.c[i], n)
			if k > 0 {
				r.c[i] -= k
				n -= k
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return appendSliding(dst, &r)
	}
}

// refill adds the whole tokens earned since last (capped at the burst: the
// fraction of a token is then dropped and last is t).
func (q *params) refill(last vt, w uint64, t int64) (vt, uint64) {
	if w >= q.b { // already full: time spent full earns nothing
		if last.less(vt{ns: t}) {
			last = vt{ns: t}
		}
		return last, q.b
	}
	if k := q.accrued(last, t); k > 0 {
		if k >= q.b-w {
			return vt{ns: t}, q.b
		}
		return q.add(last, k), w + k
	}
	return last, w
}

// tokenBucket: tokens w counted at the virtual instant last.
func (q *params) tokenBucket(dst, st []byte, t int64, n uint64) (Decision, []byte) {
	last, w, ok := q.decodeTB(st)
	if !ok {
		last, w = vt{ns: t}, q.b
	}
	last, w = q.refill(last, w, t)
	d := Decision{Limit: int64(q.b)}
	var next []byte
	switch {
	case n > q.b:
		d.RetryAfter = Never
	case n <= w:
		d.Allowed = true
		if n > 0 {
			w -= n
			next = appendTB(dst, last, w)
		}
	default:
		d.RetryAfter = max(until(q.add(last, n-w), t), 1)
	}
	d.Remaining = int64(w)
	if w < q.b {
		d.Reset = until(q.add(last, q.b-w), t)
	}
	return d, next
}

// virtualScheduling is gcra and leaky_bucket: tat is the instant at which
// the bucket is full again (the theoretical arrival time).
func (q *params) virtualScheduling(dst, st []byte, t int64, n uint64) (Decision, []byte) {
	now := vt{ns: t}
	tat, ok := q.decodeTAT(st)
	if !ok || tat.less(now) {
		tat = now
	}
	d := Decision{Limit: int64(q.b)}
	if n == 0 {
		d.Allowed = true
		d.Remaining = int64(q.b - min(q.b, q.debt(tat, t)))
		d.Reset = until(tat, t)
		return d, nil
	}
	var tolerance int64 // longest delay allowed
	if q.alg == LeakyBucket {
		tolerance = q.maxDelay
	}
	// The smallest possible emission of n, n×T, already beyond burst×T plus
	// the tolerance: never admissible.
	if n > q.b {
		if over, _ := q.span(n - q.b); q.alg == GCRA || over > tolerance || over == tolerance && q.overRem(n-q.b) {
			d.Remaining = int64(q.b - min(q.b, q.debt(tat, t)))
			d.Reset = until(tat, t)
			d.RetryAfter = Never
			return d, nil
		}
	}
	cand := q.add(tat, n)
	// depart is when the request conforms: cand - burst×T.
	depart := q.sub(cand, q.b)
	latest := vt{ns: t + tolerance}
	if latest.less(depart) {
		d.Remaining = int64(q.b - min(q.b, q.debt(tat, t)))
		d.Reset = until(tat, t)
		d.RetryAfter = max(until(vt{depart.ns - tolerance, depart.rem}, t), 1)
		return d, nil
	}
	d.Allowed = true
	d.Delay = until(depart, t)
	d.Remaining = int64(q.b - min(q.b, q.debt(cand, t)))
	d.Reset = until(cand, t)
	return d, appendTAT(dst, q.alg, cand)
}

// overRem says whether k×T has a fractional nanosecond.
func (q *params) overRem(k uint64) bool {
	_, rem := q.span(k)
	return rem > 0
}

// fixedWindow: count in the window ending at end (windows are aligned on
// multiples of per since the epoch).
func (q *params) fixedWindow(dst, st []byte, t int64, n uint64) (Decision, []byte) {
	p := int64(q.p)
	start := t / p * p
	end, count, ok := decodeFixed(st)
	switch {
	case !ok || end <= start:
		end, count = start+p, 0
	case end < start+p:
		end = start + p
	}
	d := Decision{Limit: int64(q.r)}
	var next []byte
	switch {
	case n > q.r:
		d.RetryAfter = Never
	case n == 0:
		d.Allowed = true
	case count <= q.r-n:
		d.Allowed = true
		count += n
		next = appendFixed(dst, end, count)
	default:
		d.RetryAfter = time.Duration(end - t)
	}
	d.Remaining = int64(q.r - min(q.r, count))
	if count > 0 {
		d.Reset = time.Duration(end - t)
	}
	return d, next
}

// loadRing decodes a sliding_window state and moves it to the sub-window of
// t. ok is false for a fresh or corrupt state (r is then an empty ring at t).
func (q *params) loadRing(st []byte, t int64) (ring, bool) {
	sw := q.sw
	cur := t / sw * sw
	old, ok := decodeSliding(st)
	if !ok {
		return ring{start: cur, sw: sw}, false
	}
	if old.sw == sw && old.start%sw == 0 {
		if old.start >= cur { // same sub-window (or a clock behind the state's)
			return old, true
		}
		r := ring{start: cur, sw: sw}
		if k := (cur - old.start) / sw; k <= SubWindows {
			copy(r.c[k:], old.c[:])
		}
		return r, true
	}
	// The sub-window length changed (a tier with another per): every old
	// sub-window that may still overlap the counted span is merged,
	// conservatively, into the newest sub-window it may reach.
	r := ring{start: max(cur, min(old.start+old.sw-1, maxStateTime)/sw*sw), sw: sw}
	oldest := cur - SubWindows*sw
	for i, c := range old.c {
		if old.start-int64(i)*old.sw+old.sw > oldest {
			r.c[0] = min(satAdd(r.c[0], c), maxStateCount)
		}
	}
	return r, true
}

// slidingWindow: the requests of the current sub-window and of the
// SubWindows before it all count.
func (q *params) slidingWindow(dst, st []byte, t int64, n uint64) (Decision, []byte) {
	r, _ := q.loadRing(st, t)
	var total uint64
	for _, c := range r.c {
		total = satAdd(total, c)
	}
	d := Decision{Limit: int64(q.r)}
	var next []byte
	switch {
	case n > q.r:
		d.RetryAfter = Never
	case n == 0:
		d.Allowed = true
	case total <= q.r-n:
		d.Allowed = true
		total += n
		r.c[0] += n
		next = appendSliding(dst, &r)
	default:
		// Sub-window i stops counting at start + (SubWindows+1-i)×sw; drop
		// the oldest until n fits.
		need := total - (q.r - n)
		var dropped uint64
		for i := SubWindows; i >= 0; i-- {
			dropped = satAdd(dropped, r.c[i])
			if dropped >= need {
				d.RetryAfter = time.Duration(r.start + int64(SubWindows+1-i)*r.sw - t)
				break
			}
		}
	}
	d.Remaining = int64(q.r - min(q.r, total))
	for i, c := range r.c {
		if c > 0 {
			d.Reset = time.Duration(r.start + int64(SubWindows+1-i)*r.sw - t)
			break
		}
	}
	return d, next
}
