package ratelimit

import (
	"bytes"
	"testing"
	"time"
)

// decodes says whether st is a valid state of q's algorithm.
func (q *params) decodes(st []byte) bool {
	switch q.alg {
	case TokenBucket:
		_, _, ok := q.decodeTB(st)
		return ok
	case GCRA, LeakyBucket:
		_, ok := q.decodeTAT(st)
		return ok
	case FixedWindow:
		_, _, ok := decodeFixed(st)
		return ok
	default:
		_, ok := decodeSliding(st)
		return ok
	}
}

// maxStateLen: tag + instant + the longest varints (sliding: s and 11 counters).
const maxStateLen = 1 + 8 + 9 + 11*9

// FuzzDecide: any state bytes with any settings, instant and n: no panic;
// invalid settings reject with Never; the decision is self-consistent; a
// written state decodes; a state that does not decode is treated exactly
// as a fresh one.
func FuzzDecide(f *testing.F) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		s := concurrentSettings(alg)
		_, st := Decide(s, nil, t0, 3)
		f.Add(st, uint8(alg), s.Requests, int64(s.Per), s.Burst, int64(s.MaxDelay), t0.UnixNano(), int64(1))
		f.Add(st[:len(st)-1], uint8(alg), s.Requests, int64(s.Per), s.Burst, int64(s.MaxDelay), t0.UnixNano()+int64(s.Per)/3, int64(2))
		f.Add(append(st, 0), uint8(alg), int64(7), int64(time.Minute), int64(0), int64(0), t0.UnixNano()-1, int64(30))
	}
	f.Add([]byte{0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, uint8(SlidingWindow), int64(1), int64(10), int64(0), int64(0), int64(1<<62), int64(1))
	f.Add([]byte{0x10, 0, 0, 0, 0, 0, 0, 0, 0x40, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x05}, uint8(TokenBucket), int64(1<<62), int64(MaxSpan), int64(0), int64(0), int64(-5), int64(-1))
	f.Fuzz(func(t *testing.T, state []byte, alg uint8, r, per, burst, md, nowNs, n int64) {
		s := Settings{Algorithm: Algorithm(alg % 6), Requests: r, Per: time.Duration(per), Burst: burst, MaxDelay: time.Duration(md)}
		now := time.Unix(0, nowNs)
		d, next := Decide(s, state, now, n)
		back := Refund(s, state, now, n)
		peek := Peek(s, state, now)
		ns, err := s.Normalize()
		if err != nil {
			if d.Allowed || d.RetryAfter != Never || next != nil || back != nil {
				t.Fatalf("invalid settings %+v decided %+v", s, d)
			}
			return
		}
		q, _ := compile(ns)
		capacity := ns.Burst
		if ns.Algorithm == FixedWindow || ns.Algorithm == SlidingWindow {
			capacity = ns.Requests
		}
		for _, x := range []Decision{d, peek} {
			if x.Limit != capacity || x.Remaining < 0 || x.Remaining > capacity || x.Reset < 0 || x.Delay < 0 || x.Delay > ns.MaxDelay {
				t.Fatalf("%+v n=%d: inconsistent %+v", ns, n, x)
			}
			if x.Allowed && x.RetryAfter != 0 || !x.Allowed && (x.RetryAfter <= 0 || x.Delay != 0) {
				t.Fatalf("%+v n=%d: inconsistent %+v", ns, n, x)
			}
		}
		if !peek.Allowed || peek.Delay != 0 {
			t.Fatalf("peek %+v", peek)
		}
		if !d.Allowed && next != nil || d.Allowed && n > 0 && next == nil || n <= 0 && next != nil {
			t.Fatalf("%+v n=%d: decision %+v with next %x", ns, n, d, next)
		}
		for _, w := range [][]byte{next, back} {
			if w != nil && (!q.decodes(w) || len(w) > maxStateLen) {
				t.Fatalf("%+v: wrote an undecodable state %x", ns, w)
			}
		}
		if !q.decodes(state) {
			d0, next0 := Decide(s, nil, now, n)
			if d != d0 || !bytes.Equal(next, next0) || back != nil {
				t.Fatalf("corrupt state %x: %+v %x, fresh %+v %x", state, d, next, d0, next0)
			}
		}
	})
}
