package ratelimit

import (
	"testing"
	"time"
)

// t0 is a fixed instant, a multiple of 10s since the epoch (windows align on it).
var t0 = time.Unix(1_700_000_000, 0)

const ms = time.Millisecond

type op uint8

const (
	decide op = iota
	refund
)

// step is one call at t0+at; want is the full Decision expected (decide).
type step struct {
	at   time.Duration
	op   op
	n    int64
	s    *Settings // nil: the table's settings (another tier otherwise)
	want Decision
}

func ok(rem int64, reset time.Duration) Decision {
	return Decision{Allowed: true, Remaining: rem, Reset: reset}
}

func no(rem int64, reset, retry time.Duration) Decision {
	return Decision{Remaining: rem, Reset: reset, RetryAfter: retry}
}

func delayed(delay time.Duration, rem int64, reset time.Duration) Decision {
	return Decision{Allowed: true, Delay: delay, Remaining: rem, Reset: reset}
}

// runSteps plays the steps on one key's state; Limit is filled from the
// settings of each step. It also checks that a rejection or a request of 0
// writes nothing.
func runSteps(t *testing.T, base Settings, steps []step) {
	t.Helper()
	var state []byte
	for i, st := range steps {
		s := base
		if st.s != nil {
			s = *st.s
		}
		now := t0.Add(st.at)
		switch st.op {
		case refund:
			if next := Refund(s, state, now, st.n); next != nil {
				state = next
			}
			continue
		}
		n, _ := s.Normalize()
		want := st.want
		want.Limit = n.Burst
		if s.Algorithm == FixedWindow || s.Algorithm == SlidingWindow {
			want.Limit = n.Requests
		}
		got, next := Decide(s, state, now, st.n)
		if got != want {
			t.Fatalf("step %d (t0+%v, n=%d): got  %+v\n                                want %+v", i, st.at, st.n, got, want)
		}
		if (next != nil) != (got.Allowed && st.n > 0) {
			t.Fatalf("step %d: next state %x for decision %+v", i, next, got)
		}
		if p := Peek(s, state, now); st.n == 0 && p != got {
			t.Fatalf("step %d: Peek %+v differs from Decide(0) %+v", i, p, got)
		}
		if next != nil {
			state = next
		}
	}
}

func TestStepsTokenBucket(t *testing.T) {
	base := Settings{Requests: 10, Per: time.Second, Burst: 5} // T = 100ms
	premium := Settings{Requests: 100, Per: time.Second, Burst: 100}
	runSteps(t, base, []step{
		{at: 0, n: 1, want: ok(4, 100*ms)},         // fresh key: full bucket
		{at: 0, n: 4, want: ok(0, 500*ms)},         // n>1 empties it
		{at: 0, n: 1, want: no(0, 500*ms, 100*ms)}, // empty: reject
		{at: 50 * ms, n: 1, want: no(0, 450*ms, 50*ms)},
		{at: 100 * ms, n: 1, want: ok(0, 500*ms)},           // one token refilled
		{at: 350 * ms, n: 2, want: ok(0, 450*ms)},           // 2.5 tokens: 2 taken, 0.5 in progress
		{at: 350 * ms, op: refund, n: 2},                    // given back
		{at: 350 * ms, n: 0, want: ok(2, 250*ms)},           // peek
		{at: 250 * ms, n: 0, want: ok(2, 350*ms)},           // a clock behind: no credit
		{at: 10 * time.Second, n: 6, want: no(5, 0, Never)}, // n > capacity: never
		{at: 10 * time.Second, n: 5, want: ok(0, 500*ms)},
		{at: 10 * time.Second, op: refund, n: 9}, // refund caps at the burst
		{at: 10 * time.Second, n: 0, want: ok(5, 0)},
		{at: 10 * time.Second, n: 5, want: ok(0, 500*ms)},
		// Tier switch to premium (T = 10ms, burst 100): the 0 tokens carry
		// over and refill at the premium rate: 200ms = 20 tokens.
		{at: 10*time.Second + 200*ms, n: 1, s: &premium, want: ok(19, 810*ms)},
		// And back: 19 tokens clamp to the basic burst of 5.
		{at: 10*time.Second + 200*ms, n: 1, want: ok(4, 100*ms)},
	})
}

func TestStepsGCRA(t *testing.T) {
	base := Settings{Algorithm: GCRA, Requests: 10, Per: time.Second, Burst: 5}
	premium := Settings{Algorithm: GCRA, Requests: 100, Per: time.Second, Burst: 100}
	runSteps(t, base, []step{
		// The same admissions as the token bucket.
		{at: 0, n: 1, want: ok(4, 100*ms)},
		{at: 0, n: 4, want: ok(0, 500*ms)},
		{at: 0, n: 1, want: no(0, 500*ms, 100*ms)},
		{at: 50 * ms, n: 1, want: no(0, 450*ms, 50*ms)},
		{at: 100 * ms, n: 1, want: ok(0, 500*ms)},
		{at: 350 * ms, n: 2, want: ok(0, 450*ms)},
		{at: 350 * ms, op: refund, n: 2},
		{at: 350 * ms, n: 0, want: ok(2, 250*ms)},
		{at: 250 * ms, n: 0, want: ok(1, 350*ms)}, // a clock behind sees the debt from its own instant
		{at: 10 * time.Second, n: 6, want: no(5, 0, Never)},
		{at: 10 * time.Second, n: 5, want: ok(0, 500*ms)},
		// Tier switch: tat (t0+10.5s) carries as a time: 300ms of debt at
		// T = 10ms is 30 tokens of 100, then this request.
		{at: 10*time.Second + 200*ms, n: 1, s: &premium, want: ok(69, 310*ms)},
		// Back to basic: 410ms of debt at T = 100ms is 4.1 of 5 tokens.
		{at: 10*time.Second + 200*ms, n: 1, want: ok(0, 410*ms)},
		{at: 10*time.Second + 200*ms, n: 1, want: no(0, 410*ms, 10*ms)},
	})
}

func TestStepsFixedWindow(t *testing.T) {
	base := Settings{Algorithm: FixedWindow, Requests: 3, Per: time.Second}
	long := Settings{Algorithm: FixedWindow, Requests: 5, Per: 10 * time.Second}
	runSteps(t, base, []step{
		{at: 0, n: 1, want: ok(2, time.Second)},
		{at: 500 * ms, n: 2, want: ok(0, 500*ms)},
		{at: 999 * ms, n: 1, want: no(0, 1*ms, 1*ms)},
		{at: time.Second, n: 3, want: ok(0, time.Second)}, // window roll: 5 in [0.5s, 1s] (the boundary burst)
		{at: time.Second, op: refund, n: 1},
		{at: 1500 * ms, n: 0, want: ok(1, 500*ms)},
		{at: 1500 * ms, n: 4, want: no(1, 500*ms, Never)},
		{at: 3 * time.Second, n: 0, want: ok(3, 0)},
		{at: 3 * time.Second, n: 1, want: ok(2, time.Second)},
		// Tier switch to 5 per 10s: the stored window [3s,4s) overlaps
		// [0,10s): its count carries and the end extends to 10s.
		{at: 3500 * ms, n: 1, s: &long, want: ok(3, 6500*ms)},
		// Back: the window stored (ending at 10s) still counts: 2 of 3.
		{at: 3600 * ms, n: 1, want: ok(0, 6400*ms)},
		{at: 3700 * ms, n: 1, want: no(0, 6300*ms, 6300*ms)},
		{at: 10 * time.Second, n: 1, want: ok(2, time.Second)},
	})
}

func TestStepsSlidingWindow(t *testing.T) {
	base := Settings{Algorithm: SlidingWindow, Requests: 3, Per: time.Second} // sub-windows of 100ms
	long := Settings{Algorithm: SlidingWindow, Requests: 4, Per: 2 * time.Second}
	runSteps(t, base, []step{
		{at: 0, n: 1, want: ok(2, 1100*ms)},
		{at: 500 * ms, n: 1, want: ok(1, 1100*ms)},
		{at: 999 * ms, n: 1, want: ok(0, 1001*ms)},
		// No boundary burst: [0,100) still counts at 1s (a false rejection:
		// (0s,1s] holds 2 requests; the cost documented in doc.go).
		{at: time.Second, n: 1, want: no(0, time.Second, 100*ms)},
		{at: 1100 * ms, n: 1, want: ok(0, 1100*ms)},
		{at: 1100 * ms, n: 1, want: no(0, 1100*ms, 500*ms)},
		{at: 1100 * ms, op: refund, n: 1},
		{at: 1100 * ms, n: 0, want: ok(1, 900*ms)},
		{at: 1100 * ms, n: 4, want: no(1, 900*ms, Never)},
		{at: 1100 * ms, n: 2, want: no(1, 900*ms, 500*ms)},
		// Tier switch to 4 per 2s (sub-windows of 200ms): the 2 counted
		// requests merge into the current sub-window [1.2s, 1.4s).
		{at: 1200 * ms, n: 1, s: &long, want: ok(1, 2200*ms)},
		// Back to 100ms sub-windows: the 3 merge again, into [1.3s, 1.4s).
		{at: 1300 * ms, n: 1, want: no(0, 1100*ms, 1100*ms)},
		{at: 2400 * ms, n: 3, want: ok(0, 1100*ms)},
		{at: 2400 * ms, op: refund, n: 5}, // more than counted: to 0
		{at: 2400 * ms, n: 0, want: ok(3, 0)},
	})
}

func TestStepsLeakyBucket(t *testing.T) {
	base := Settings{Algorithm: LeakyBucket, Requests: 10, Per: time.Second, Burst: 2, MaxDelay: 300 * ms}
	fast := Settings{Algorithm: LeakyBucket, Requests: 100, Per: time.Second, Burst: 2, MaxDelay: 300 * ms}
	runSteps(t, base, []step{
		{at: 0, n: 1, want: ok(1, 100*ms)}, // burst of 2 leaves at once
		{at: 0, n: 1, want: ok(0, 200*ms)},
		{at: 0, n: 1, want: delayed(100*ms, 0, 300*ms)}, // then one every 100ms
		{at: 0, n: 1, want: delayed(200*ms, 0, 400*ms)},
		{at: 0, n: 1, want: delayed(300*ms, 0, 500*ms)}, // = max_delay
		{at: 0, n: 1, want: no(0, 500*ms, 100*ms)},      // would wait 400ms
		{at: 150 * ms, n: 1, want: delayed(250*ms, 0, 450*ms)},
		{at: 150 * ms, op: refund, n: 1}, // its slot is freed
		{at: 150 * ms, n: 0, want: ok(0, 350*ms)},
		{at: 150 * ms, n: 6, want: no(0, 350*ms, Never)},  // (6-2)×100ms > 300ms: never
		{at: 150 * ms, n: 4, want: no(0, 350*ms, 250*ms)}, // departs at 700ms
		{at: 5 * time.Second, n: 4, want: delayed(200*ms, 0, 400*ms)},
		// Tier switch: tat (t0+5.4s) is kept; at T = 10ms the next
		// request would depart at 5.39s: 390ms > max_delay.
		{at: 5 * time.Second, n: 1, s: &fast, want: no(0, 400*ms, 90*ms)},
		{at: 5100 * ms, n: 1, s: &fast, want: delayed(290*ms, 0, 310*ms)},
	})
}

// TestStepsNoDrift: 3 per second (T = 333333333.33ns), a bucket of 3000
// emptied at t0 and then polled 7000 times: after 1000s exactly 3000 tokens
// were earned, not one nanosecond earlier. An implementation that rounds T
// to 333333333ns would have them 3ns early, one rounding T up too late; one
// accumulating per-call rounding would drift with the polls.
func TestStepsNoDrift(t *testing.T) {
	for _, alg := range []Algorithm{TokenBucket, GCRA, LeakyBucket} {
		s := Settings{Algorithm: alg, Requests: 3, Per: time.Second, Burst: 3000}
		d, state := Decide(s, nil, t0, 3000)
		if !d.Allowed {
			t.Fatalf("%v: first request %+v", alg, d)
		}
		admitted := int64(0)
		for j := int64(1); j <= 7000; j++ {
			d, next := Decide(s, state, t0.Add(time.Duration(j)*137*ms), 1)
			if d.Allowed {
				admitted++
				state = next
			}
		}
		if admitted < 2870 || admitted > 2877 { // 3 per second for 959s, +-
			t.Fatalf("%v: %d admitted while polling", alg, admitted)
		}
		end := t0.Add(1000 * time.Second)
		n := 3000 - admitted
		if d, _ := Decide(s, state, end.Add(-1), n); d.Allowed || d.RetryAfter != 1 {
			t.Fatalf("%v: %d tokens 1ns early: %+v", alg, n, d)
		}
		if d, _ := Decide(s, state, end, n); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("%v: %d tokens at 1000s: %+v", alg, n, d)
		}
	}
}
