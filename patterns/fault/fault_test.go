package fault

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// script is a rand.Source that returns scripted uniforms: u in [0,1) is
// returned as the 64-bit value whose Float64 is exactly u (u must be a
// multiple of 2^-53).
type script struct{ us []float64 }

func (s *script) Uint64() uint64 {
	u := s.us[0]
	s.us = s.us[1:]
	return uint64(u * (1 << 53)) // Float64 keeps the low 53 bits and divides by 2^53
}

func TestDecideSteps(t *testing.T) {
	s := Settings{AbortPercent: 25, DelayPercent: 50, Delay: 200 * time.Millisecond}
	steps := []struct {
		u1, u2    float64
		abort     bool
		delay     time.Duration
		settings  *Settings
		nameOfRow string
	}{
		{0, 0, true, 200 * time.Millisecond, nil, "both fire at u=0"},
		{0.25, 0.5, false, 0, nil, "u equal to the share does not fire"},
		{0.25 - 1.0/(1<<53), 0.5 - 1.0/(1<<53), true, 200 * time.Millisecond, nil, "just below the share fires"},
		{0.9, 0.1, false, 200 * time.Millisecond, nil, "delay only"},
		{0.1, 0.9, true, 0, nil, "abort only"},
		{0.999, 0.999, false, 0, nil, "neither"},
		{0, 0, false, 0, &Settings{}, "zero settings never fire"},
		{1 - 1.0/(1<<53), 1 - 1.0/(1<<53), true, time.Second, &Settings{AbortPercent: 100, DelayPercent: 100, Delay: time.Second}, "100% fires at the largest u"},
	}
	for _, st := range steps {
		set := s
		if st.settings != nil {
			set = *st.settings
		}
		src := &script{us: []float64{st.u1, st.u2}}
		abort, delay := Decide(set, rand.New(src))
		if abort != st.abort || delay != st.delay {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", st.nameOfRow, abort, delay, st.abort, st.delay)
		}
		if len(src.us) != 0 {
			t.Errorf("%s: %d draws left, Decide must draw exactly two", st.nameOfRow, len(src.us))
		}
	}
	if a, d := Decide(s, nil); a || d != 0 {
		t.Fatal("nil source must inject nothing")
	}
}

// TestShareConverges checks that the count of aborts and delays over n
// decisions stays within 6 standard deviations of the binomial mean (a
// failure has probability below 2e-9 per check; the seeds are fixed anyway).
func TestShareConverges(t *testing.T) {
	const n = 200000
	for i, p := range []float64{0.1, 1, 5, 12.5, 33.3, 50, 90, 99.9} {
		s := Settings{AbortPercent: p, DelayPercent: 100 - p, Delay: time.Millisecond}
		r := rand.New(rand.NewPCG(uint64(i), 7))
		var aborts, delays, both int
		for range n {
			a, d := Decide(s, r)
			if a {
				aborts++
			}
			if d > 0 {
				delays++
				if d != time.Millisecond {
					t.Fatalf("delay %v", d)
				}
			}
			if a && d > 0 {
				both++
			}
		}
		check := func(what string, k int, q float64) {
			mean := n * q
			sd := math.Sqrt(n * q * (1 - q))
			if math.Abs(float64(k)-mean) > 6*sd+1 {
				t.Errorf("p=%v %s: %d of %d, expected %.1f ± %.1f", p, what, k, n, mean, 6*sd)
			}
		}
		check("aborts", aborts, p/100)
		check("delays", delays, 1-p/100)
		check("both (independence)", both, p/100*(1-p/100))
	}
}

func TestZeroNeverHundredAlways(t *testing.T) {
	never := Settings{}
	always := Settings{AbortPercent: 100, DelayPercent: 100, Delay: time.Second}
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, seed+1))
		for range 10000 {
			if a, d := Decide(never, r); a || d != 0 {
				t.Fatal("0% fired")
			}
			if a, d := Decide(always, r); !a || d != time.Second {
				t.Fatal("100% did not fire")
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	ok := []struct {
		in, want Settings
	}{
		{Settings{}, Settings{AbortStatus: 503}},
		{Settings{AbortPercent: 5, AbortStatus: 429}, Settings{AbortPercent: 5, AbortStatus: 429}},
		{Settings{DelayPercent: 100, Delay: time.Second}, Settings{DelayPercent: 100, Delay: time.Second, AbortStatus: 503}},
		{Settings{Delay: time.Second}, Settings{Delay: time.Second, AbortStatus: 503}},
	}
	for _, c := range ok {
		got, err := c.in.Normalize()
		if err != nil || got != c.want {
			t.Errorf("%+v: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []Settings{
		{AbortPercent: -1}, {AbortPercent: 100.5}, {AbortPercent: math.NaN()},
		{DelayPercent: -0.1, Delay: 1}, {DelayPercent: 101, Delay: 1}, {DelayPercent: math.NaN()},
		{AbortStatus: 199}, {AbortStatus: 600}, {AbortStatus: -1},
		{Delay: -1}, {DelayPercent: 1},
	}
	for _, s := range bad {
		if _, err := s.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", s, err)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	s := Settings{AbortPercent: 5, DelayPercent: 10, Delay: 200 * time.Millisecond}
	r := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if a, _ := Decide(s, r); a {
			n++
		}
	}
	if n == 0 {
		b.Fatal("no abort drawn")
	}
}
