package ratelimit

import (
	"math"
	"math/bits"
	"time"
)

// Bounds of the instants the algorithms compute with (see doc.go).
const (
	// maxNow is the latest instant understood (2^62 ns after the epoch,
	// early 2116); later clocks are clamped to it, earlier than the epoch to 0.
	maxNow = int64(1) << 62
	// maxStateTime bounds every instant held in a state: now plus a full
	// bucket plus the longest delay.
	maxStateTime = maxNow + 2*int64(MaxSpan)
	// SubWindows is the number of sub-windows a sliding_window limit splits
	// Per into (see doc.go for the exact rule and its cost).
	SubWindows = 10
	// maxSub bounds a sub-window length: ceil(MaxSpan/SubWindows).
	maxSub = (int64(MaxSpan) + SubWindows - 1) / SubWindows
)

// params are normalized Settings in the form the algorithms compute with.
type params struct {
	_        [0]func() // not comparable: no equality function in the binary
	alg      Algorithm
	r, p, b  uint64 // requests, per (ns), burst
	maxDelay int64
	sw       int64 // sliding_window: sub-window length, ceil(per/SubWindows)
}

// compile normalizes s (the one place of validation, Normalize) and derives params.
func compile(s Settings) (params, bool) {
	n, err := s.Normalize()
	if err != nil {
		return params{}, false
	}
	return params{
		alg: n.Algorithm, r: uint64(n.Requests), p: uint64(n.Per), b: uint64(n.Burst),
		maxDelay: int64(n.MaxDelay), sw: (int64(n.Per) + SubWindows - 1) / SubWindows,
	}, true
}

// clampNow maps now onto [0, maxNow] nanoseconds since the Unix epoch.
func clampNow(now time.Time) int64 {
	t := now.UnixNano()
	return min(max(t, 0), maxNow)
}

// vt is an exact virtual instant: ns + rem/r nanoseconds, 0 <= rem < r.
// Adding k emission intervals (k×per/requests) to it loses nothing.
type vt struct {
	ns  int64
	rem uint64
}

func (a vt) less(b vt) bool { return a.ns < b.ns || a.ns == b.ns && a.rem < b.rem }

// span returns k×per/requests as whole nanoseconds and a remainder over
// requests. It saturates at MaxInt64 (callers keep k×T within MaxSpan).
func (q *params) span(k uint64) (int64, uint64) {
	hi, lo := bits.Mul64(k, q.p)
	if hi >= q.r {
		return math.MaxInt64, 0
	}
	quo, rem := bits.Div64(hi, lo, q.r)
	if quo > math.MaxInt64 {
		return math.MaxInt64, 0
	}
	return int64(quo), rem
}

// add returns v + k×T.
func (q *params) add(v vt, k uint64) vt {
	d, rem := q.span(k)
	v.rem += rem
	if v.rem >= q.r {
		v.rem -= q.r
		d++
	}
	v.ns += d
	return v
}

// sub returns v - k×T.
func (q *params) sub(v vt, k uint64) vt {
	d, rem := q.span(k)
	if v.rem < rem {
		v.rem += q.r
		d++
	}
	v.rem -= rem
	v.ns -= d
	return v
}

// until returns v - t rounded up to a nanosecond, at least 0.
func until(v vt, t int64) time.Duration {
	d := v.ns - t
	if v.rem > 0 {
		d++
	}
	return time.Duration(max(d, 0))
}

// accrued returns the whole tokens earned from v to t: floor((t - v)/T),
// saturating; 0 when t <= v.
func (q *params) accrued(v vt, t int64) uint64 {
	if t <= v.ns {
		return 0
	}
	hi, lo := bits.Mul64(uint64(t-v.ns), q.r)
	var borrow uint64
	lo, borrow = bits.Sub64(lo, v.rem, 0)
	hi -= borrow
	if hi >= q.p {
		return math.MaxUint64
	}
	quo, _ := bits.Div64(hi, lo, q.p)
	return quo
}

// debt returns ceil((v - t)/T), the tokens still owed at t by a bucket full
// at v, saturating; 0 when v <= t.
func (q *params) debt(v vt, t int64) uint64 {
	if v.ns < t || v.ns == t && v.rem == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(v.ns-t), q.r)
	var carry uint64
	lo, carry = bits.Add64(lo, v.rem, 0)
	hi += carry
	if hi >= q.p {
		return math.MaxUint64
	}
	quo, rem := bits.Div64(hi, lo, q.p)
	if rem > 0 {
		quo++
	}
	return quo
}

// satAdd adds without wrapping past MaxUint64.
func satAdd(a, b uint64) uint64 {
	s, c := bits.Add64(a, b, 0)
	if c != 0 {
		return math.MaxUint64
	}
	return s
}
