package timeout

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestAdaptiveNormalize(t *testing.T) {
	got, err := Adaptive{}.Normalize()
	want := Adaptive{Quantile: 0.95, Multiplier: 1, Min: time.Millisecond, MinSamples: 20, Window: 1000, Period: 60 * time.Second}
	if err != nil || got != want {
		t.Fatalf("zero value: %+v %v", got, err)
	}
	got, err = Adaptive{MinSamples: 5000}.Normalize()
	if err != nil || got.Window != 5000 {
		t.Fatalf("window follows min_samples: %+v %v", got, err)
	}
	bad := []Adaptive{
		{Quantile: -0.1}, {Quantile: 1.01}, {Quantile: math.NaN()}, {Multiplier: -1}, {Multiplier: 101},
		{Extra: -1}, {Min: -1}, {Max: -1}, {Period: -1}, {Min: time.Second, Max: time.Millisecond},
		{MinSamples: -1}, {MinSamples: MaxWindow + 1}, {MinSamples: 50, Window: 49}, {Window: MaxWindow + 1},
	}
	for _, a := range bad {
		if _, err := a.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v", a, err)
		}
	}
	st := store.NewMem(0, 1)
	a := &Adaptive{Quantile: 2}
	if err := a.Observe(st, "k", time.Millisecond, t0); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if d, _, err := a.Timeout(st, "k", time.Second, t0); !errors.Is(err, ErrInvalid) || d != time.Second {
		t.Fatal(d, err)
	}
}

func TestBucketsWithinAlpha(t *testing.T) {
	if Hi < 100*time.Second {
		t.Fatalf("Hi = %v, want >= 100s", Hi)
	}
	if bucketOf(Lo) != 0 || valueOf(0) != Lo || bucketOf(0) != 0 || bucketOf(-5) != 0 || bucketOf(Hi*10) != NumBuckets-1 {
		t.Fatal("edges")
	}
	r := rand.New(rand.NewPCG(1, 2))
	prev := -1
	for i := range 200000 {
		// log-uniform over [Lo, Hi], plus a sweep for monotonicity
		v := time.Duration(float64(Lo) * math.Exp(r.Float64()*math.Log(float64(Hi)/float64(Lo))))
		if e := math.Abs(float64(valueOf(bucketOf(v)) - v)); e > Alpha*float64(v)+1 {
			t.Fatalf("%v reported as %v: relative error %.5f > %v", v, valueOf(bucketOf(v)), e/float64(v), Alpha)
		}
		w := Lo + time.Duration(i)*time.Microsecond
		if b := bucketOf(w); b < prev {
			t.Fatalf("bucketOf not monotone at %v", w)
		} else {
			prev = b
		}
	}
}

// exact is the reference quantile: the ceil(q·n)-th smallest sample.
func exact(xs []time.Duration, q float64) time.Duration {
	s := slices.Clone(xs)
	slices.Sort(s)
	r := int(math.Ceil(q * float64(len(s))))
	r = min(max(r, 1), len(s))
	return s[r-1]
}

func clampRange(lo, hi time.Duration) func(time.Duration) time.Duration {
	return func(d time.Duration) time.Duration { return min(max(d, lo), hi) }
}

// TestEstimatorAgainstExactQuantile feeds samples of several distributions
// through the store and checks every estimate against the exact quantile:
// |estimate − exact| <= Alpha × exact (latencies within [Lo, Hi]).
func TestEstimatorAgainstExactQuantile(t *testing.T) {
	c := clampRange(Lo, Hi)
	ms := float64(time.Millisecond)
	dists := map[string]func(r *rand.Rand) time.Duration{
		"uniform 1-500ms":  func(r *rand.Rand) time.Duration { return c(time.Duration(ms + r.Float64()*499*ms)) },
		"exponential 50ms": func(r *rand.Rand) time.Duration { return c(time.Duration(r.ExpFloat64() * 50 * ms)) },
		"lognormal 20ms σ=1": func(r *rand.Rand) time.Duration {
			return c(time.Duration(20 * ms * math.Exp(r.NormFloat64())))
		},
		"bimodal 10ms/300ms": func(r *rand.Rand) time.Duration {
			if r.IntN(10) == 0 {
				return c(time.Duration((300 + 30*r.NormFloat64()) * ms))
			}
			return c(time.Duration((10 + r.NormFloat64()) * ms))
		},
		"pareto 1ms α=1.5": func(r *rand.Rand) time.Duration {
			return c(time.Duration(ms / math.Pow(1-r.Float64(), 1/1.5)))
		},
		"constant 42ms": func(*rand.Rand) time.Duration { return 42 * time.Millisecond },
	}
	qs := []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}
	seed := uint64(0)
	for name, gen := range dists {
		seed++
		r := rand.New(rand.NewPCG(seed, 9))
		st := store.NewMem(0.2, seed)
		obs := &Adaptive{MinSamples: 1, Window: 100000, Min: 1}
		var xs []time.Duration
		for i := range 8000 {
			x := gen(r)
			xs = append(xs, x)
			if err := obs.Observe(st, "k", x, t0.Add(time.Duration(i)*time.Microsecond)); err != nil {
				t.Fatal(err)
			}
		}
		now := t0.Add(time.Second)
		for _, q := range qs {
			a := &Adaptive{Quantile: q, MinSamples: 1, Window: 100000, Min: 1}
			got, n, err := a.Timeout(st, "k", time.Hour, now)
			want := exact(xs, q)
			if err != nil || n != len(xs) {
				t.Fatalf("%s: n %d %v", name, n, err)
			}
			if e := math.Abs(float64(got - want)); e > Alpha*float64(want)+1 {
				t.Errorf("%s q=%v: estimate %v, exact %v, relative error %.4f > %v", name, q, got, want, e/float64(want), Alpha)
			}
		}
	}
}

// TestGenerationsFollowRecentLatency checks the window against a reference
// that keeps the exact samples of the two generations, while the latency
// distribution shifts, and the retirement of generations by time.
func TestGenerationsFollowRecentLatency(t *testing.T) {
	a := &Adaptive{Quantile: 0.9, MinSamples: 50, Window: 200, Period: 10 * time.Second, Min: 1}
	st := store.NewMem(0.2, 4)
	r := rand.New(rand.NewPCG(5, 6))
	var cur, prev []time.Duration
	now := t0
	start := now
	for i := range 3000 {
		now = now.Add(time.Millisecond)
		base := []float64{20, 200, 5}[i/1000]
		x := time.Duration(base * float64(time.Millisecond) * math.Exp(0.3*r.NormFloat64()))
		if len(cur) >= 200 { // the reference rotation: Window samples per generation
			prev, cur, start = cur, nil, now
		}
		cur = append(cur, x)
		if err := a.Observe(st, "k", x, now); err != nil {
			t.Fatal(err)
		}
		got, n, err := a.Timeout(st, "k", time.Hour, now)
		if err != nil || n != len(cur)+len(prev) {
			t.Fatalf("step %d: n %d, want %d (%v)", i, n, len(cur)+len(prev), err)
		}
		if n < 50 {
			if got != time.Hour {
				t.Fatalf("step %d: %v before min_samples", i, got)
			}
			continue
		}
		want := exact(append(slices.Clone(prev), cur...), 0.9)
		if e := math.Abs(float64(got - want)); e > Alpha*float64(want)+1 {
			t.Fatalf("step %d: estimate %v, exact %v over the window", i, got, want)
		}
	}
	// Time retires generations: after Period only the current one counts,
	// after 2·Period nothing (static again).
	if _, n, _ := a.Timeout(st, "k", time.Hour, start.Add(10*time.Second-1)); n != len(cur)+len(prev) {
		t.Fatalf("n %d before Period", n)
	}
	if got, n, _ := a.Timeout(st, "k", time.Hour, start.Add(10*time.Second)); n != len(cur) || (n >= 50) == (got == time.Hour) {
		t.Fatalf("after Period: n %d (cur %d), %v", n, len(cur), got)
	}
	if got, n, _ := a.Timeout(st, "k", time.Hour, start.Add(20*time.Second)); n != 0 || got != time.Hour {
		t.Fatalf("after 2·Period: n %d, %v", n, got)
	}
	// An observation after a long silence starts afresh.
	if err := a.Observe(st, "k", time.Second, start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, n, _ := a.Timeout(st, "k", time.Hour, start.Add(time.Minute)); n != 1 {
		t.Fatalf("n %d after silence", n)
	}
}

func TestAdaptiveSteps(t *testing.T) {
	a := &Adaptive{Quantile: 0.5, Multiplier: 2, Extra: 10 * time.Millisecond, Min: 50 * time.Millisecond,
		Max: time.Second, MinSamples: 3, Window: 4, Period: time.Second}
	st := store.NewMem(0, 1)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	steps := []struct {
		at      int // ms from t0
		observe int // ms, 0 = none
		n       int
		q       int // exact quantile sample in ms; 0 = static expected
		comment string
	}{
		{0, 100, 1, 0, "static until min_samples"},
		{1, 20, 2, 0, ""},
		{2, 30, 3, 30, "median of 20 30 100 → 2×30+10 = 70ms"},
		{3, 10, 4, 20, "median of 10 20 30 100 → 50ms"},
		{4, 1, 5, 20, "window full: a new generation; 10 20 30 100 | 1 → 20"},
		{5, 900, 6, 20, ""},
		{6, 900, 7, 30, ""},
		{7, 900, 8, 30, "1 10 20 30 100 900 900 900 → 30"},
		{8, 900, 5, 900, "rotation: 1 900 900 900 | 900 → 1810ms, clamped to 1s"},
		{1007, 0, 5, 900, "just before Period"},
		{1008, 0, 1, 0, "Period after the generation began: the previous one retired"},
		{2008, 0, 0, 0, "2·Period: nothing left"},
	}
	for i, s := range steps {
		now := t0.Add(ms(s.at))
		if s.observe > 0 {
			if err := a.Observe(st, "k", ms(s.observe), now); err != nil {
				t.Fatal(err)
			}
		}
		got, n, err := a.Timeout(st, "k", 2*time.Second, now)
		if err != nil || n != s.n {
			t.Fatalf("step %d (%s): n %d %v, want %d", i, s.comment, n, err, s.n)
		}
		if s.q == 0 {
			if got != 2*time.Second {
				t.Errorf("step %d (%s): %v, want the static 2s", i, s.comment, got)
			}
			continue
		}
		c := clampRange(a.Min, a.Max)
		lo := c(time.Duration((1-Alpha)*float64(ms(s.q))*2) + a.Extra)
		hi := c(time.Duration((1+Alpha)*float64(ms(s.q))*2) + a.Extra)
		if got < lo || got > hi {
			t.Errorf("step %d (%s): %v, want in [%v, %v]", i, s.comment, got, lo, hi)
		}
	}
}

func TestConcurrentObserveNoLostSample(t *testing.T) {
	a := &Adaptive{MinSamples: 1, Window: MaxWindow}
	st := store.NewMem(0.2, 8)
	if err := a.Observe(st, "k", time.Millisecond, t0); err != nil { // create before the race
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 1
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 2000 {
				err := a.Observe(st, "k", time.Duration(1+r.IntN(1000))*time.Millisecond, t0.Add(time.Duration(i)*time.Microsecond))
				if err == nil {
					mu.Lock()
					done++
					mu.Unlock()
				} else if !errors.Is(err, store.ErrContended) {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, n, _ := a.Timeout(st, "k", 0, t0.Add(time.Second)); n != done {
		t.Fatalf("%d samples counted, %d observed", n, done)
	}
	if st.Conflicts == 0 {
		t.Fatal("no conflicts")
	}
}

func TestCorruptIsFresh(t *testing.T) {
	st := store.NewMem(0, 1)
	a := &Adaptive{MinSamples: 1}
	for _, bad := range [][]byte{{1}, {2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}, []byte("garbage garbage")} {
		_ = st.Set("k", bad, 0)
		if d, n, err := a.Timeout(st, "k", 7*time.Second, t0); d != 7*time.Second || n != 0 || err != nil {
			t.Fatalf("%v: %v %d %v", bad, d, n, err)
		}
		if err := a.Observe(st, "k", time.Second, t0); err != nil {
			t.Fatal(err)
		}
		if _, n, _ := a.Timeout(st, "k", 0, t0); n != 1 {
			t.Fatalf("%v: n %d after one observation", bad, n)
		}
	}
}

func FuzzDecode(f *testing.F) {
	h := hist{start: 5}
	h.cur[3], h.cur[300], h.prev[0] = 2, 1, 7
	f.Add(h.encode())
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h hist
		if !h.decodeStrict(b) {
			h.decode(b)
			if h.start != 0 || h.curN != 0 || h.prevN != 0 {
				t.Fatal("corrupt input must decode as a fresh estimator")
			}
			return
		}
		if got := h.encode(); string(got) != string(b) {
			t.Fatal("round trip changed the bytes")
		}
		h.quantile(0.5)
	})
}

func benchStore(b *testing.B) (*Adaptive, *store.Mem) {
	a := &Adaptive{Quantile: 0.95, Multiplier: 1.2, Extra: 20 * time.Millisecond, Min: 50 * time.Millisecond, Max: 5 * time.Second}
	st := store.NewMem(0, 1)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range 1000 {
		a.Observe(st, "k", time.Duration(20*float64(time.Millisecond)*math.Exp(r.NormFloat64())), t0.Add(time.Duration(i)*time.Microsecond))
	}
	return a, st
}

// BenchmarkObserve: one latency into a realistic (lognormal) histogram.
func BenchmarkObserve(b *testing.B) {
	a, st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Observe(st, "k", 23*time.Millisecond, t0.Add(time.Millisecond)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTimeout: the per-request decision (a read).
func BenchmarkTimeout(b *testing.B) {
	a, st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, n, _ := a.Timeout(st, "k", time.Second, t0.Add(time.Millisecond)); n < 20 {
			b.Fatal(n)
		}
	}
}

func BenchmarkParseGRPCTimeout(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseGRPCTimeout("250m"); err != nil {
			b.Fatal(err)
		}
	}
}
