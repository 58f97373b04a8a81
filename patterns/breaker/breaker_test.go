package breaker

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// t0 is a multiple of every bucket duration used in the tests (1s, 2s, 5s).
var t0 = time.Unix(1_700_000_000, 0)

const (
	ms = time.Millisecond
	s1 = time.Second
)

// A step is one call at instant t0+at and what it must return.
type step struct {
	at   time.Duration
	kind byte // 'a' Allow, 'r' Report, 'x' Release, 'b' Allow (admitted) then Report, 'c' checks only
	tok  string
	o    Outcome
	adm  string // 'a': "g<gen>" admitted closed, "p<gen>" probe, "w<gen>" observe would-reject, "no", "zero" (admitted, zero token)
	tr   string // transitions returned, formatted by trs; "" none
	st   string // if set: State() after the step
	snap string // if set: Inspect() after the step, formatted by snapString
}

func A(at time.Duration, tok, adm, tr string) step {
	return step{at: at, kind: 'a', tok: tok, adm: adm, tr: tr}
}
func R(at time.Duration, tok string, fail bool, tr string) step {
	return step{at: at, kind: 'r', tok: tok, o: Outcome{Failure: fail}, tr: tr}
}
func RD(at time.Duration, tok string, fail bool, d time.Duration, tr string) step {
	return step{at: at, kind: 'r', tok: tok, o: Outcome{Failure: fail, Duration: d}, tr: tr}
}
func X(at time.Duration, tok string) step { return step{at: at, kind: 'x', tok: tok} }

// B admits a closed request and reports its outcome (fail) at the same instant.
func B(at time.Duration, fail bool, tr string) step {
	return step{at: at, kind: 'b', o: Outcome{Failure: fail}, tr: tr}
}
func BD(at time.Duration, fail bool, d time.Duration, tr string) step {
	return step{at: at, kind: 'b', o: Outcome{Failure: fail, Duration: d}, tr: tr}
}
func C(at time.Duration, st, snap string) step { return step{at: at, kind: 'c', st: st, snap: snap} }

// Bn is n B steps at the same instant that must not transition.
func Bn(n int, at time.Duration, fail bool) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = B(at, fail, "")
	}
	return out
}

func seq(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		}
	}
	return out
}

func trString(t Transition) string {
	return fmt.Sprintf("%v>%v g%d t%d n%d f%.2f s%.2f", t.From, t.To, t.Generation, t.Trip, t.Calls, t.FailureRate, t.SlowRate)
}

func trs(ts []Transition) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, trString(t))
	}
	return strings.Join(parts, "; ")
}

func snapString(s Snapshot) string {
	out := fmt.Sprintf("%v g%d t%d n%d f%d s%d c%d p%d/%d", s.State, s.Generation, s.Trip, s.Calls, s.Failures, s.Slow,
		s.ConsecutiveFailures, s.ProbesAdmitted, s.ProbesSucceeded)
	if !s.OpenUntil.IsZero() {
		out += fmt.Sprintf(" until=%v", s.OpenUntil.Sub(t0))
	}
	return out
}

func admString(tok Token, ok bool) string {
	switch {
	case !ok:
		return "no"
	case tok == Token{}:
		return "zero"
	case tok.WouldReject:
		return fmt.Sprintf("w%d", tok.Generation)
	case tok.Probe:
		return fmt.Sprintf("p%d", tok.Generation)
	}
	return fmt.Sprintf("g%d", tok.Generation)
}

func runSteps(t *testing.T, s Settings, steps []step) *store.Mem {
	t.Helper()
	b := New("cb", 8, s)
	st := store.NewMem(0, 1)
	const key = "k"
	toks := map[string]Token{}
	for i, sp := range steps {
		now := t0.Add(sp.at)
		where := fmt.Sprintf("step %d (%c %s at %v)", i, sp.kind, sp.tok, sp.at)
		var got []Transition
		switch sp.kind {
		case 'a':
			tok, ok, tr, err := b.Allow(st, key, now)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if a := admString(tok, ok); a != sp.adm {
				t.Fatalf("%s: admission %s, want %s", where, a, sp.adm)
			}
			toks[sp.tok] = tok
			got = tr
		case 'b':
			tok, ok, tr, err := b.Allow(st, key, now)
			if err != nil || !ok || tr != nil {
				t.Fatalf("%s: Allow %v %v %v", where, ok, tr, err)
			}
			got, err = b.Report(st, key, tok, now, sp.o)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case 'r':
			tok, ok := toks[sp.tok]
			if !ok {
				t.Fatalf("%s: no token %q", where, sp.tok)
			}
			var err error
			got, err = b.Report(st, key, tok, now, sp.o)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case 'x':
			if err := b.Release(st, key, toks[sp.tok], now); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		}
		if g := trs(got); g != sp.tr {
			t.Fatalf("%s: transitions %q, want %q", where, g, sp.tr)
		}
		for _, tr := range got {
			if !tr.At.Equal(now) {
				t.Fatalf("%s: transition at %v, want %v", where, tr.At, now)
			}
		}
		if sp.st != "" {
			state, err := b.State(st, key, now)
			if err != nil || state.String() != sp.st {
				t.Fatalf("%s: State() = %v %v, want %s", where, state, err, sp.st)
			}
		}
		if sp.snap != "" {
			snap, err := b.Inspect(st, key, now)
			if err != nil || snapString(snap) != sp.snap {
				t.Fatalf("%s: Inspect() = %q %v, want %q", where, snapString(snap), err, sp.snap)
			}
		}
	}
	return st
}

func TestSteps(t *testing.T) {
	count := func(n, min int, thr float64) Settings {
		return Settings{WindowSize: n, MinimumCalls: min, FailureRateThreshold: thr, OpenDuration: 10 * s1}
	}
	cases := []struct {
		name  string
		s     Settings
		steps []step
	}{
		{"failure rate reaches the threshold at minimum_calls", count(10, 4, 0.5), seq(
			C(0, "closed", "closed g1 t0 n0 f0 s0 c0 p0/0"),
			B(0, false, ""), C(0, "closed", "closed g1 t0 n1 f0 s0 c0 p0/0"),
			B(1*s1, true, ""), C(1*s1, "closed", "closed g1 t0 n2 f1 s0 c1 p0/0"),
			B(2*s1, false, ""), C(2*s1, "closed", "closed g1 t0 n3 f1 s0 c0 p0/0"),
			B(3*s1, true, "closed>open g2 t1 n4 f0.50 s0.00"),
			C(3*s1, "open", "open g2 t1 n0 f0 s0 c0 p0/0 until=13s"),
			A(3*s1, "", "no", ""),
			A(13*s1-1, "", "no", ""), C(13*s1-1, "open", ""),
			C(13*s1, "half_open", "open g2 t1 n0 f0 s0 c0 p0/0 until=13s"), // State() is already half-open
			A(13*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
			C(13*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"),
			A(13*s1, "", "no", ""),
			R(14*s1, "p", false, "half_open>closed g4 t0 n1 f0.00 s0.00"),
			C(14*s1, "closed", "closed g4 t0 n0 f0 s0 c0 p0/0"),
			A(14*s1, "", "g4", ""),
		)},
		{"failure rate below the threshold does not trip", count(10, 4, 0.5), seq(
			B(0, false, ""), B(0, false, ""), B(0, false, ""), B(0, true, ""), // 1/4
			B(0, false, ""), B(0, true, ""), // 2/6
			B(0, true, ""), C(0, "closed", "closed g1 t0 n7 f3 s0 c2 p0/0"), // 3/7
			B(0, true, "closed>open g2 t1 n8 f0.50 s0.00"), // 4/8
		)},
		{"threshold 1.0 needs every call of the window to fail", count(3, 3, 1), seq(
			B(0, true, ""), B(0, true, ""), B(0, false, ""), // F F S
			B(0, true, ""), B(0, true, ""), C(0, "closed", "closed g1 t0 n3 f2 s0 c2 p0/0"), // S F F
			B(0, true, "closed>open g2 t1 n3 f1.00 s0.00"),
		)},
		{"minimum_calls holds back a failure rate of 1", count(10, 5, 0.5), seq(
			Bn(4, 0, true), C(0, "closed", "closed g1 t0 n4 f4 s0 c4 p0/0"),
			B(0, true, "closed>open g2 t1 n5 f1.00 s0.00"),
		)},
		{"consecutive_failures trips below minimum_calls", Settings{WindowSize: 100, MinimumCalls: 100, ConsecutiveFailures: 3}, seq(
			B(0, true, ""), B(0, true, ""), C(0, "", "closed g1 t0 n2 f2 s0 c2 p0/0"),
			B(0, false, ""), C(0, "", "closed g1 t0 n3 f2 s0 c0 p0/0"),
			B(0, true, ""), B(0, true, ""), C(0, "", "closed g1 t0 n5 f4 s0 c2 p0/0"),
			B(0, true, "closed>open g2 t1 n6 f0.83 s0.00"),
		)},
		{"a slow success breaks a run of failures", Settings{MinimumCalls: 100, ConsecutiveFailures: 2, SlowCallDuration: s1}, seq(
			B(0, true, ""), BD(0, false, 5*s1, ""), C(0, "", "closed g1 t0 n2 f1 s1 c0 p0/0"),
			B(0, true, ""), BD(0, true, 5*s1, "closed>open g2 t1 n4 f0.75 s0.50"),
		)},
		{"slow-call rate trips (duration == slow_call_duration is slow)",
			Settings{WindowSize: 10, MinimumCalls: 4, SlowCallDuration: s1, SlowCallRateThreshold: 0.5}, seq(
				BD(0, false, s1-1, ""), BD(0, false, s1, ""), BD(0, false, 10*ms, ""),
				C(0, "", "closed g1 t0 n3 f0 s1 c0 p0/0"),
				BD(0, false, 3*s1, "closed>open g2 t1 n4 f0.00 s0.50"),
			)},
		{"a slow failure counts in both rates", Settings{WindowSize: 10, MinimumCalls: 2, FailureRateThreshold: 1, SlowCallDuration: s1}, seq(
			BD(0, true, 2*s1, ""), C(0, "", "closed g1 t0 n1 f1 s1 c1 p0/0"),
			BD(0, false, 0, ""), C(0, "", "closed g1 t0 n2 f1 s1 c0 p0/0"),
		)},
		{"slow calls not tracked without slow_call_duration", Settings{WindowSize: 10, MinimumCalls: 2, SlowCallRateThreshold: 0.1}, seq(
			BD(0, false, time.Hour, ""), BD(0, false, time.Hour, ""), BD(0, false, time.Hour, ""),
			C(0, "closed", "closed g1 t0 n3 f0 s0 c0 p0/0"),
		)},
		{"count window evicts the oldest call", count(4, 4, 0.75), seq(
			B(0, true, ""), B(0, true, ""), B(0, false, ""), B(0, false, ""), C(0, "", "closed g1 t0 n4 f2 s0 c0 p0/0"), // F F S S
			B(0, false, ""), C(0, "", "closed g1 t0 n4 f1 s0 c0 p0/0"), // F S S S
			B(0, true, ""), C(0, "", "closed g1 t0 n4 f1 s0 c1 p0/0"), // S S S F
			B(0, true, ""), C(0, "", "closed g1 t0 n4 f2 s0 c2 p0/0"), // S S F F
			B(0, true, "closed>open g2 t1 n4 f0.75 s0.00"), // S F F F
		)},
		{"time window: buckets expire one by one",
			Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 4, FailureRateThreshold: 0.8}, seq(
				Bn(3, 0, true), B(2*s1, false, ""), // bucket 0: F F F; bucket 1: S
				C(9*s1, "", "closed g1 t0 n4 f3 s0 c0 p0/0"),
				C(10*s1-1, "", "closed g1 t0 n4 f3 s0 c0 p0/0"),
				C(10*s1, "", "closed g1 t0 n1 f0 s0 c0 p0/0"), // bucket 0 out
				C(12*s1-1, "", "closed g1 t0 n1 f0 s0 c0 p0/0"),
				C(12*s1, "", "closed g1 t0 n0 f0 s0 c0 p0/0"), // bucket 1 out
				B(12*s1, true, ""), B(13*s1, false, ""), B(19*s1, false, ""),
				C(19*s1, "", "closed g1 t0 n3 f1 s0 c0 p0/0"),
				B(21*s1, true, ""), // at 21s the window is epochs 6..10 (12s..21.999s): 2/4 < 0.8
				C(21*s1, "", "closed g1 t0 n4 f2 s0 c1 p0/0"),
				C(22*s1, "", "closed g1 t0 n2 f1 s0 c1 p0/0"), // epoch 6 out
			)},
		{"time window: an outcome stamped before the newest bucket counts in it",
			Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 4, FailureRateThreshold: 0.8}, seq(
				B(5*s1, true, ""), B(3*s1, true, ""), // epochs 2 and (1, counted in 2)
				C(12*s1, "", "closed g1 t0 n2 f2 s0 c2 p0/0"),
				C(14*s1, "", "closed g1 t0 n0 f0 s0 c2 p0/0"),
			)},
		{"time window: trips on the calls of the window only",
			Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 4}, seq(
				Bn(3, 0, true), // would trip with one more failure if they stayed
				B(10*s1, true, ""), C(10*s1, "", "closed g1 t0 n1 f1 s0 c4 p0/0"),
				B(10*s1, false, ""), B(11*s1, false, ""),
				B(20*s1-1, true, "closed>open g2 t1 n4 f0.50 s0.00"),
			)},
		{"time window: a gap longer than the window empties it",
			Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 4, FailureRateThreshold: 0.8}, seq(
				Bn(3, 0, true), B(3*s1, false, ""),
				B(time.Hour, true, ""), C(time.Hour, "", "closed g1 t0 n1 f1 s0 c1 p0/0"),
			)},
		{"time window: the clock stepped back by a whole window restarts it",
			Settings{Window: TimeWindow, WindowDuration: 10 * s1, Buckets: 5, MinimumCalls: 4, FailureRateThreshold: 0.8}, seq(
				B(100*s1, true, ""), B(100*s1, true, ""), B(95*s1, true, ""), // 95s: a little behind, counted
				C(100*s1, "", "closed g1 t0 n3 f3 s0 c3 p0/0"),
				B(80*s1, true, ""), C(80*s1, "", "closed g1 t0 n1 f1 s0 c4 p0/0"),
			)},
		{"an opened-at instant far ahead of the clock counts as long past", Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1}, seq(
			B(time.Hour, true, "closed>open g2 t1 n1 f1.00 s0.00"),
			A(time.Hour-s1, "", "no", ""), // a little behind: still open
			C(0, "half_open", ""),
			A(0, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"), // an hour behind (> max_open_duration)
		)},
		{"open backoff grows and is capped; a close resets it",
			Settings{WindowSize: 10, ConsecutiveFailures: 1, OpenDuration: 10 * s1, OpenBackoff: 2, MaxOpenDuration: 35 * s1}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"), C(0, "open", "open g2 t1 n0 f0 s0 c0 p0/0 until=10s"),
				A(10*s1-1, "", "no", ""),
				A(10*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				R(10*s1, "p", true, "half_open>open g4 t2 n1 f1.00 s0.00"), C(10*s1, "open", "open g4 t2 n0 f0 s0 c0 p0/0 until=30s"),
				A(30*s1-1, "", "no", ""),
				A(30*s1, "p", "p5", "open>half_open g5 t2 n0 f0.00 s0.00"),
				R(30*s1, "p", true, "half_open>open g6 t3 n1 f1.00 s0.00"), C(30*s1, "open", "open g6 t3 n0 f0 s0 c0 p0/0 until=1m5s"),
				A(65*s1-1, "", "no", ""), // 40s capped at 35s
				A(65*s1, "p", "p7", "open>half_open g7 t3 n0 f0.00 s0.00"),
				R(65*s1, "p", true, "half_open>open g8 t4 n1 f1.00 s0.00"), C(65*s1, "open", "open g8 t4 n0 f0 s0 c0 p0/0 until=1m40s"),
				A(100*s1-1, "", "no", ""),
				A(100*s1, "p", "p9", "open>half_open g9 t4 n0 f0.00 s0.00"),
				R(100*s1, "p", false, "half_open>closed g10 t0 n1 f0.00 s0.00"),
				B(100*s1, true, "closed>open g11 t1 n1 f1.00 s0.00"), C(100*s1, "open", "open g11 t1 n0 f0 s0 c0 p0/0 until=1m50s"),
				A(110*s1-1, "", "no", ""),
				A(110*s1, "p", "p12", "open>half_open g12 t1 n0 f0.00 s0.00"),
			)},
		{"lazy half-open long after the open duration", Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1}, seq(
			B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
			C(time.Hour, "half_open", ""),
			A(time.Hour, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
		)},
		{"half-open admits exactly half_open_calls probes; all succeed: closed",
			Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, HalfOpenCalls: 3}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
				A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(10*s1, "p2", "p3", ""), A(11*s1, "p3", "p3", ""),
				A(11*s1, "", "no", ""), C(11*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p3/0"),
				R(12*s1, "p2", false, ""), C(12*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p3/1"),
				R(12*s1, "p2", false, ""), C(12*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p3/1"), // reported twice: once
				R(12*s1, "p1", false, ""), A(12*s1, "", "no", ""),
				R(13*s1, "p3", false, "half_open>closed g4 t0 n3 f0.00 s0.00"),
				C(13*s1, "closed", "closed g4 t0 n0 f0 s0 c0 p0/0"),
			)},
		{"one failing probe reopens; the other probes are then stale",
			Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, OpenBackoff: 3, HalfOpenCalls: 3}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
				A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(10*s1, "p2", "p3", ""), A(10*s1, "p3", "p3", ""),
				R(11*s1, "p1", false, ""),
				R(11*s1, "p2", true, "half_open>open g4 t2 n2 f0.50 s0.00"),
				R(11*s1, "p3", false, ""), C(11*s1, "open", "open g4 t2 n0 f0 s0 c0 p0/0 until=41s"),
			)},
		{"a slow probe reopens", Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, SlowCallDuration: s1}, seq(
			B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
			A(10*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
			RD(10*s1, "p", false, 2*s1, "half_open>open g4 t2 n1 f0.00 s1.00"),
		)},
		{"outcomes of an earlier generation are ignored", count(10, 2, 0.5), seq(
			A(0, "a", "g1", ""), A(0, "b", "g1", ""), A(0, "c", "g1", ""),
			B(0, true, ""), B(0, true, "closed>open g2 t1 n2 f1.00 s0.00"),
			R(s1, "a", true, ""), C(s1, "open", "open g2 t1 n0 f0 s0 c0 p0/0 until=10s"),
			A(10*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
			R(10*s1, "b", false, ""), C(10*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"),
			R(10*s1, "p", false, "half_open>closed g4 t0 n1 f0.00 s0.00"),
			R(10*s1, "c", true, ""), R(10*s1, "p", true, ""), C(10*s1, "closed", "closed g4 t0 n0 f0 s0 c0 p0/0"),
			X(10*s1, "p"), C(10*s1, "closed", "closed g4 t0 n0 f0 s0 c0 p0/0"),
		)},
		{"a closed token is not a probe and a probe is not a closed call", count(10, 2, 0.5), seq(
			A(0, "c", "g1", ""),
			B(0, true, ""), B(0, true, "closed>open g2 t1 n2 f1.00 s0.00"),
			A(10*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
			R(10*s1, "c", false, ""), C(10*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"),
		)},
		{"release frees a probe slot and is not a success", Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, HalfOpenCalls: 2}, seq(
			A(0, "c", "g1", ""), X(0, "c"), C(0, "closed", "closed g1 t0 n0 f0 s0 c0 p0/0"), // releasing a closed call: nothing
			B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
			A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"), A(10*s1, "p2", "p3", ""),
			A(10*s1, "", "no", ""),
			X(11*s1, "p1"), C(11*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"),
			X(11*s1, "p1"), C(11*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"), // twice: once
			R(11*s1, "p1", false, ""), C(11*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"), // released: not reported
			A(12*s1, "p3", "p3", ""), A(12*s1, "", "no", ""),
			R(12*s1, "p2", false, ""), C(12*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p2/1"),
			R(13*s1, "p3", false, "half_open>closed g4 t0 n2 f0.00 s0.00"),
		)},
		{"a slow probe waits for its outcome: no second probe before half_open_max_wait (default max(open_duration, 60s))",
			Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
				A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(20*s1, "", "no", ""), // open_duration after the probe: still waiting for it
				A(70*s1-1, "", "no", ""),
				RD(69*s1, "p1", false, 59*s1, "half_open>closed g4 t0 n1 f0.00 s0.00"), // slow, but it reports
				A(69*s1, "c", "g4", ""),
			)},
		{"half_open_max_wait derives from the call timeout, and re-arms a lost probe",
			Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, CallTimeout: 90 * s1}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
				A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(99*s1, "", "no", ""),
				A(100*s1, "q1", "p4", "half_open>half_open g4 t1 n0 f0.00 s0.00"),
				R(100*s1, "p1", false, ""), // the lost probe shows up late: stale
				R(101*s1, "q1", false, "half_open>closed g5 t0 n1 f0.00 s0.00"),
			)},
		{"an abandoned probe frees its place at once, whatever half_open_max_wait",
			Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, HalfOpenMaxWait: time.Hour}, seq(
				B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
				A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(11*s1, "", "no", ""),
				X(12*s1, "p1"),
				A(12*s1, "p2", "p3", ""),
				R(13*s1, "p2", false, "half_open>closed g4 t0 n1 f0.00 s0.00"),
			)},
		{"lost probes expire half_open_max_wait after the last admission", Settings{ConsecutiveFailures: 1, OpenDuration: 10 * s1, HalfOpenCalls: 2, HalfOpenMaxWait: 10 * s1}, seq(
			B(0, true, "closed>open g2 t1 n1 f1.00 s0.00"),
			A(10*s1, "p1", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
			A(15*s1, "p2", "p3", ""),
			R(16*s1, "p2", false, ""), // p1's holder vanished
			A(25*s1-1, "", "no", ""), C(25*s1-1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p2/1"),
			A(25*s1, "q1", "p4", "half_open>half_open g4 t1 n0 f0.00 s0.00"),
			C(25*s1, "half_open", "half_open g4 t1 n0 f0 s0 c0 p1/0"),
			R(25*s1, "p1", false, ""), // the lost probe shows up late: stale
			A(25*s1, "q2", "p4", ""), A(25*s1, "", "no", ""),
			R(26*s1, "q1", false, ""), R(26*s1, "q2", false, "half_open>closed g5 t0 n2 f0.00 s0.00"),
		)},
		{"observe: same transitions, never rejects, would-be rejections not recorded",
			Settings{WindowSize: 10, MinimumCalls: 2, OpenDuration: 10 * s1, Mode: Observe}, seq(
				B(0, true, ""), B(0, true, "closed>open g2 t1 n2 f1.00 s0.00"),
				A(s1, "w", "w2", ""), C(s1, "open", "open g2 t1 n0 f0 s0 c0 p0/0 until=10s"),
				R(s1, "w", true, ""), X(s1, "w"), C(s1, "open", "open g2 t1 n0 f0 s0 c0 p0/0 until=10s"),
				A(10*s1, "p", "p3", "open>half_open g3 t1 n0 f0.00 s0.00"),
				A(10*s1, "w", "w3", ""), R(10*s1, "w", true, ""),
				C(10*s1, "half_open", "half_open g3 t1 n0 f0 s0 c0 p1/0"),
				R(10*s1, "p", true, "half_open>open g4 t2 n1 f1.00 s0.00"),
				A(20*s1, "p", "p5", "open>half_open g5 t2 n0 f0.00 s0.00"),
				R(20*s1, "p", false, "half_open>closed g6 t0 n1 f0.00 s0.00"),
				A(20*s1, "c", "g6", ""),
			)},
		{"forced_open rejects everything and records nothing", Settings{Mode: ForcedOpen, MinimumCalls: 1}, seq(
			A(0, "a", "no", ""), C(0, "open", "closed g1 t0 n0 f0 s0 c0 p0/0"),
			A(time.Hour, "a", "no", ""), C(time.Hour, "open", ""),
		)},
		{"disabled admits everything and records nothing", Settings{Mode: Disabled, MinimumCalls: 1, ConsecutiveFailures: 1}, seq(
			A(0, "a", "zero", ""), R(0, "a", true, ""), X(0, "a"),
			C(0, "closed", "closed g1 t0 n0 f0 s0 c0 p0/0"),
		)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runSteps(t, c.s, c.steps) })
	}
}

func TestForcedOpenAndDisabledDoNotTouchTheStore(t *testing.T) {
	for _, m := range []Mode{ForcedOpen, Disabled} {
		b := New("cb", 1, Settings{Mode: m, MinimumCalls: 1})
		st := store.NewMem(0, 1)
		for i := range 10 {
			now := t0.Add(time.Duration(i) * time.Minute)
			tok, ok, tr, err := b.Allow(st, "k", now)
			if err != nil || ok != (m == Disabled) || tr != nil || tok != (Token{}) {
				t.Fatalf("%v: Allow = %+v %v %v %v", m, tok, ok, tr, err)
			}
			// Even a token from elsewhere is not recorded.
			if tr, err := b.Report(st, "k", Token{Generation: 1}, now, Outcome{Failure: true}); tr != nil || err != nil {
				t.Fatalf("%v: Report = %v %v", m, tr, err)
			}
			if err := b.Release(st, "k", Token{Generation: 1, Probe: true}, now); err != nil {
				t.Fatal(err)
			}
			if _, err := b.State(st, "k", now); err != nil {
				t.Fatal(err)
			}
		}
		if st.Gets != 0 || st.Sets != 0 {
			t.Fatalf("%v: store touched: %d gets, %d sets", m, st.Gets, st.Sets)
		}
	}
}

func TestStoreCostPerRequest(t *testing.T) {
	b := New("cb", 1, Settings{})
	st := store.NewMem(0, 1)
	tok, _, _, _ := b.Allow(st, "", t0)
	b.Report(st, "", tok, t0, Outcome{})
	g, s := st.Gets, st.Sets
	tok, ok, _, _ := b.Allow(st, "", t0)
	if !ok || st.Gets != g+1 || st.Sets != s {
		t.Fatalf("closed Allow: %d gets %d sets", st.Gets-g, st.Sets-s)
	}
	b.Report(st, "", tok, t0, Outcome{})
	if st.Gets != g+2 || st.Sets != s+1 {
		t.Fatalf("Report: %d gets %d sets", st.Gets-g-1, st.Sets-s)
	}
	b.Report(st, "", Token{Generation: 99}, t0, Outcome{})
	if st.Gets != g+3 || st.Sets != s+1 {
		t.Fatal("a stale Report must not write")
	}
	// Closed Release costs nothing.
	if err := b.Release(st, "", tok, t0); err != nil || st.Gets != g+3 {
		t.Fatal("a closed Release must not touch the store")
	}
}

func TestKeysAreIndependentAndBounded(t *testing.T) {
	b := New("cb", 8, Settings{ConsecutiveFailures: 1})
	st := store.NewMem(0, 1)
	tok, _, _, _ := b.Allow(st, "a", t0)
	if tr, _ := b.Report(st, "a", tok, t0, Outcome{Failure: true}); len(tr) != 1 {
		t.Fatal("key a should trip")
	}
	if s, _ := b.State(st, "a", t0); s != Open {
		t.Fatal("a open")
	}
	if s, _ := b.State(st, "b", t0); s != Closed {
		t.Fatal("b closed")
	}
	for i := range 10000 {
		k := fmt.Sprintf("user-%d", i)
		tok, _, _, err := b.Allow(st, k, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Report(st, k, tok, t0.Add(time.Duration(i)), Outcome{}); err != nil {
			t.Fatal(err)
		}
	}
	if st.Len() > b.Table().Sets() || b.Table().Capacity() != 8 {
		t.Fatalf("%d store keys for a table of %d sets", st.Len(), b.Table().Sets())
	}
}

func TestSettingsChangeKeepsStateEmptiesWindow(t *testing.T) {
	st := store.NewMem(0, 1)
	b1 := New("cb", 1, Settings{WindowSize: 10, MinimumCalls: 10})
	for range 5 {
		tok, _, _, _ := b1.Allow(st, "", t0)
		b1.Report(st, "", tok, t0, Outcome{Failure: true})
	}
	b2 := New("cb", 1, Settings{Window: TimeWindow, WindowDuration: time.Minute, MinimumCalls: 10})
	snap, _ := b2.Inspect(st, "", t0)
	if got := snapString(snap); got != "closed g1 t0 n0 f0 s0 c5 p0/0" {
		t.Fatalf("after a window change: %s", got)
	}
	tok, _, _, _ := b2.Allow(st, "", t0)
	b2.Report(st, "", tok, t0, Outcome{Failure: true})
	snap, _ = b2.Inspect(st, "", t0)
	if got := snapString(snap); got != "closed g1 t0 n1 f1 s0 c6 p0/0" {
		t.Fatalf("after a window change and a failure: %s", got)
	}
}

// TestOverflowNeverEvictsLive: max_keys 4 (one set): an open victim and
// three keys with failures in their window keep their records while 10,000
// other keys report successes and failures; the other keys share the
// overflow breaker, which their failures open, never the victim's peers.
func TestOverflowNeverEvictsLive(t *testing.T) {
	st := store.NewMem(0, 1)
	b := New("cb", 4, Settings{ConsecutiveFailures: 1, OpenDuration: time.Hour})
	fail := func(key string) {
		tok, ok, _, err := b.Allow(st, key, t0)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if _, err := b.Report(st, key, tok, t0, Outcome{Failure: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 4 {
		fail(fmt.Sprint("live", i))
	}
	for i := range 10000 {
		fail(fmt.Sprint("flood", i))
	}
	for i := range 4 {
		if s, _ := b.State(st, fmt.Sprint("live", i), t0); s != Open {
			t.Fatalf("live%d is %v, want open", i, s)
		}
	}
	// the flood's first failure opened the overflow breaker: a new key is rejected
	if _, ok, _, _ := b.Allow(st, "someone-new", t0); ok {
		t.Fatal("a new key admitted by an overflow breaker its flood opened")
	}
	if st.Len() != 2 {
		t.Fatalf("%d store keys, want the set and the overflow", st.Len())
	}
}
