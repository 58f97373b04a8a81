package ratelimit

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// Reference models: each admission rule of doc.go written the obvious way,
// with exact rationals (math/big) or a full log of admissions, sharing no
// code with the implementation. Instants are nanoseconds since t0.

type model interface {
	decide(t, n int64) Decision
	refund(t, n int64)
}

func rat(a, b int64) *big.Rat { return new(big.Rat).SetFrac64(a, b) }

func ratFloor(x *big.Rat) int64 {
	q := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for a positive denominator
	return q.Int64()
}

func ratCeil(x *big.Rat) int64 {
	return -ratFloor(new(big.Rat).Neg(x))
}

func ratMin(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) < 0 {
		return a
	}
	return b
}

func ratMax(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) > 0 {
		return a
	}
	return b
}

// refBucket is the token bucket: tokens(t) = min(B, tokens + (t-last)×R/P).
type refBucket struct {
	r, p, b int64
	tokens  *big.Rat
	last    int64
}

func newRefBucket(s Settings) *refBucket {
	s, _ = s.Normalize()
	return &refBucket{r: s.Requests, p: int64(s.Per), b: s.Burst, tokens: rat(s.Burst, 1)}
}

func (m *refBucket) at(t int64) *big.Rat {
	earned := rat((t-m.last)*m.r, m.p)
	m.tokens = ratMin(new(big.Rat).Add(m.tokens, earned), rat(m.b, 1))
	m.last = t
	return m.tokens
}

// timeFor is the time to earn x tokens: x×P/R, rounded up.
func (m *refBucket) timeFor(x *big.Rat) time.Duration {
	return time.Duration(max(0, ratCeil(new(big.Rat).Mul(x, rat(m.p, m.r)))))
}

func (m *refBucket) decide(t, n int64) Decision {
	tok := m.at(t)
	d := Decision{Limit: m.b}
	switch {
	case n > m.b:
		d.RetryAfter = Never
	case tok.Cmp(rat(n, 1)) >= 0:
		d.Allowed = true
		m.tokens = new(big.Rat).Sub(tok, rat(n, 1))
	default:
		d.RetryAfter = m.timeFor(new(big.Rat).Sub(rat(n, 1), tok))
	}
	d.Remaining = ratFloor(m.tokens)
	d.Reset = m.timeFor(new(big.Rat).Sub(rat(m.b, 1), m.tokens))
	return d
}

func (m *refBucket) refund(t, n int64) {
	m.tokens = ratMin(new(big.Rat).Add(m.at(t), rat(n, 1)), rat(m.b, 1))
}

// refLeaky is virtual scheduling: departures of at most B at once, then one
// every T, none later than now + MaxDelay.
type refLeaky struct {
	r, p, b, md int64
	tat         *big.Rat
	departures  []int64 // of admitted requests of 1, in admission order, in 1/R ns
	dirty       bool    // a refund of other than the last admission happened
}

func newRefLeaky(s Settings) *refLeaky {
	s, _ = s.Normalize()
	return &refLeaky{r: s.Requests, p: int64(s.Per), b: s.Burst, md: int64(s.MaxDelay), tat: rat(0, 1)}
}

func (m *refLeaky) T(k int64) *big.Rat { return rat(k*m.p, m.r) }

func (m *refLeaky) headers(d *Decision, tat *big.Rat, t int64) {
	ahead := new(big.Rat).Sub(tat, rat(t, 1))
	d.Remaining = max(0, ratFloor(new(big.Rat).Sub(rat(m.b, 1), new(big.Rat).Quo(ahead, m.T(1)))))
	d.Reset = time.Duration(max(0, ratCeil(ahead)))
}

func (m *refLeaky) decide(t, n int64) Decision {
	tat := ratMax(m.tat, rat(t, 1))
	d := Decision{Limit: m.b}
	if n == 0 {
		d.Allowed = true
		m.headers(&d, tat, t)
		return d
	}
	cand := new(big.Rat).Add(tat, m.T(n))
	depart := new(big.Rat).Sub(cand, m.T(m.b))
	latest := rat(t+m.md, 1)
	switch {
	case m.T(n-m.b).Cmp(rat(m.md, 1)) > 0:
		d.RetryAfter = Never
		m.headers(&d, tat, t)
	case depart.Cmp(latest) <= 0:
		d.Allowed = true
		d.Delay = time.Duration(max(0, ratCeil(new(big.Rat).Sub(depart, rat(t, 1)))))
		m.tat = cand
		m.headers(&d, cand, t)
		if n == 1 {
			scaled := new(big.Rat).Mul(ratMax(depart, rat(t, 1)), rat(m.r, 1))
			if !scaled.IsInt() {
				panic("departure not a multiple of 1/R ns")
			}
			m.departures = append(m.departures, scaled.Num().Int64())
		}
	default:
		d.RetryAfter = time.Duration(ratCeil(new(big.Rat).Sub(depart, latest)))
		m.headers(&d, tat, t)
	}
	return d
}

func (m *refLeaky) refund(t, n int64) {
	if m.tat.Cmp(rat(t, 1)) > 0 {
		m.tat = ratMax(new(big.Rat).Sub(m.tat, m.T(n)), rat(t, 1))
	}
}

// refFixed counts per aligned window.
type refFixed struct {
	r, p   int64
	counts map[int64]int64
}

func newRefFixed(s Settings) *refFixed {
	return &refFixed{r: s.Requests, p: int64(s.Per), counts: map[int64]int64{}}
}

func (m *refFixed) decide(t, n int64) Decision {
	abs := t0.UnixNano() + t
	w := abs / m.p
	end := (w+1)*m.p - abs
	c := m.counts[w]
	d := Decision{Limit: m.r}
	switch {
	case n > m.r:
		d.RetryAfter = Never
	case c+n <= m.r:
		d.Allowed = true
		c += n
		m.counts[w] = c
	default:
		d.RetryAfter = time.Duration(end)
	}
	d.Remaining = m.r - c
	if c > 0 {
		d.Reset = time.Duration(end)
	}
	return d
}

func (m *refFixed) refund(t, n int64) {
	w := (t0.UnixNano() + t) / m.p
	m.counts[w] = max(0, m.counts[w]-n)
}

// refSliding keeps every admission; the rule counts those whose sub-window
// is at most SubWindows before the current one.
type refSliding struct {
	r, p, s int64
	log     []admission
}

type admission struct{ t, n int64 } // t: absolute ns

func newRefSliding(s Settings) *refSliding {
	p := int64(s.Per)
	return &refSliding{r: s.Requests, p: p, s: (p + SubWindows - 1) / SubWindows}
}

func (m *refSliding) sub(abs int64) int64 { return abs / m.s * m.s }

// counted at absolute instant abs.
func (m *refSliding) counted(abs int64) int64 {
	from := m.sub(abs) - SubWindows*m.s
	var c int64
	for _, a := range m.log {
		if a.t >= from && a.t <= abs {
			c += a.n
		}
	}
	return c
}

// expiry is when an admission at abs stops counting.
func (m *refSliding) expiry(abs int64) int64 { return m.sub(abs) + (SubWindows+1)*m.s }

func (m *refSliding) decide(t, n int64) Decision {
	abs := t0.UnixNano() + t
	c := m.counted(abs)
	d := Decision{Limit: m.r}
	switch {
	case n > m.r:
		d.RetryAfter = Never
	case c+n <= m.r:
		d.Allowed = true
		if n > 0 {
			m.log = append(m.log, admission{abs, n})
			c += n
		}
	default:
		var exps []int64
		for _, a := range m.log {
			if e := m.expiry(a.t); e > abs {
				exps = append(exps, e)
			}
		}
		sort.Slice(exps, func(i, j int) bool { return exps[i] < exps[j] })
		for _, e := range exps {
			if m.counted(e)+n <= m.r {
				d.RetryAfter = time.Duration(e - abs)
				break
			}
		}
	}
	d.Remaining = m.r - c
	for _, a := range m.log {
		if e := m.expiry(a.t); a.n > 0 && e > abs && a.t <= abs {
			d.Reset = max(d.Reset, time.Duration(e-abs))
		}
	}
	return d
}

func (m *refSliding) refund(t, n int64) {
	for i := len(m.log) - 1; i >= 0 && n > 0; i-- {
		k := min(m.log[i].n, n)
		m.log[i].n -= k
		n -= k
	}
}

func newModel(s Settings) model {
	switch s.Algorithm {
	case TokenBucket, GCRA: // gcra is checked against the token bucket: the same rule
		return newRefBucket(s)
	case LeakyBucket:
		return newRefLeaky(s)
	case FixedWindow:
		return newRefFixed(s)
	default:
		return newRefSliding(s)
	}
}

// randomSettings draws parameters that exercise fractional intervals,
// tiny and huge periods, burst above and below the rate.
func randomSettings(rng *rand.Rand, alg Algorithm) Settings {
	pers := []time.Duration{time.Second, 7 * ms, 999_999_937, time.Minute, 3*time.Second + 1, 100}
	s := Settings{Algorithm: alg, Requests: 1 + rng.Int64N(12), Per: pers[rng.IntN(len(pers))]}
	if alg == TokenBucket || alg == GCRA || alg == LeakyBucket {
		switch rng.IntN(5) {
		case 0:
			s.Burst = 1
		case 1:
			s.Burst = s.Requests
		case 2:
			s.Burst = 2*s.Requests + 1
		case 3:
			s.Burst = 1 + rng.Int64N(3*s.Requests)
		}
	}
	if alg == LeakyBucket {
		T := int64(s.Per) / s.Requests
		s.MaxDelay = time.Duration([]int64{0, T / 2, 3 * T, int64(s.Per), rng.Int64N(4*T + 1)}[rng.IntN(5)])
	}
	return s
}

// randomGap: bursts, sub-interval gaps, gaps of a few periods, long idles.
func randomGap(rng *rand.Rand, s Settings) int64 {
	p := int64(s.Per)
	switch x := rng.IntN(10); {
	case x < 3:
		return 0
	case x < 6:
		return rng.Int64N(p/s.Requests + 1)
	case x < 9:
		return rng.Int64N(2*p + 1)
	default:
		return rng.Int64N(20*p + 1)
	}
}

func randomN(rng *rand.Rand, s Settings) int64 {
	n, _ := s.Normalize()
	capacity := n.Burst
	switch x := rng.IntN(20); {
	case x < 14:
		return 1
	case x < 16:
		return 0
	case x < 19:
		return 2 + rng.Int64N(3)
	default:
		return capacity + 1 + rng.Int64N(capacity)
	}
}

// TestModels plays random arrival sequences on every algorithm and compares
// each full Decision (admission and header values) with the reference
// model, with refunds interleaved.
func TestModels(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		decisions := 0
		for seq := 0; seq < 150; seq++ {
			s := randomSettings(rng, alg)
			m := newModel(s)
			var state []byte
			var now int64
			lastAdmitted := false // the previous op admitted 1 at now
			for i := 0; i < 300; i++ {
				if rng.IntN(16) == 0 {
					// A refund: at the instant of an admission of 1, of that
					// one (the undo of AllowAll), or of any n at a later time.
					var n int64 = 1
					if !lastAdmitted || rng.IntN(2) == 0 {
						now += randomGap(rng, s)
						n = 1 + rng.Int64N(3)
						if l, ok := m.(*refLeaky); ok {
							l.dirty = true
						}
					} else if l, ok := m.(*refLeaky); ok {
						l.departures = l.departures[:len(l.departures)-1]
					}
					at := t0.Add(time.Duration(now))
					m.refund(now, n)
					if next := Refund(s, state, at, n); next != nil {
						state = next
					}
					lastAdmitted = false
					continue
				}
				now += randomGap(rng, s)
				at := t0.Add(time.Duration(now))
				n := randomN(rng, s)
				want := m.decide(now, n)
				got, next := Decide(s, state, at, n)
				lastAdmitted = got.Allowed && n == 1
				decisions++
				if got != want {
					t.Fatalf("%v %+v seq %d op %d (t0+%dns, n=%d):\n got  %+v\n want %+v", alg, s, seq, i, now, n, got, want)
				}
				if next != nil {
					state = next
				}
				if len(state) > 27 && alg != SlidingWindow {
					t.Fatalf("%v: state of %d bytes", alg, len(state))
				}
			}
			checkSequence(t, alg, s, m)
		}
		t.Logf("%v: %d decisions equal to the reference", alg, decisions)
	}
}

// checkSequence asserts the rule-level guarantees on the admissions of one
// sequence, by brute force.
func checkSequence(t *testing.T, alg Algorithm, s Settings, m model) {
	t.Helper()
	switch alg {
	case SlidingWindow:
		checkWindows(t, s, m.(*refSliding).log)
	case LeakyBucket:
		if l := m.(*refLeaky); !l.dirty {
			checkDepartures(t, s, l.departures)
		}
	}
}

// checkWindows: at most Requests admitted in ANY window [a, a+Per) (it
// suffices to start windows at admissions).
func checkWindows(t *testing.T, s Settings, log []admission) {
	t.Helper()
	for i, a := range log {
		var c int64
		for _, b := range log[i:] {
			if b.t < a.t+int64(s.Per) {
				c += b.n
			}
		}
		if c > s.Requests {
			t.Fatalf("%+v: %d admitted in [%d, %d+per)", s, c, a.t, a.t)
		}
	}
}

// checkDepartures: departures keep arrival order, and in any interval
// [x, y] of departures at most Burst + (y-x)/T leave: with departures in
// units of 1/R ns, (count − Burst)×Per <= D_j − D_i.
func checkDepartures(t *testing.T, s Settings, deps []int64) {
	t.Helper()
	n, _ := s.Normalize()
	p := int64(n.Per)
	for i := range deps {
		if i > 0 && deps[i] < deps[i-1] {
			t.Fatalf("%+v: departure %d before %d", s, i, i-1)
		}
		for j := i; j < len(deps); j++ {
			if (int64(j-i+1)-n.Burst)*p > deps[j]-deps[i] {
				t.Fatalf("%+v: %d departures in [%d, %d]/R ns", s, j-i+1, deps[i], deps[j])
			}
		}
	}
}

// TestSlidingWindowCost: every rejection of a request of n <= Requests is
// explained by the documented cost: the admissions in (t − P − s − 10ns, t]
// plus n exceed Requests. And under saturation at least 10/11 of the rate
// is admitted.
func TestSlidingWindowCost(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for seq := 0; seq < 200; seq++ {
		s := randomSettings(rng, SlidingWindow)
		m := newRefSliding(s)
		var state []byte
		var now int64
		for i := 0; i < 300; i++ {
			now += randomGap(rng, s)
			n := 1 + rng.Int64N(min(3, s.Requests))
			d, next := Decide(s, state, t0.Add(time.Duration(now)), n)
			abs := t0.UnixNano() + now
			if d.Allowed {
				m.log = append(m.log, admission{abs, n})
				state = next
				continue
			}
			var c int64
			for _, a := range m.log {
				if a.t > abs-int64(s.Per)-m.s-SubWindows && a.t <= abs {
					c += a.n
				}
			}
			if c+n <= s.Requests {
				t.Fatalf("%+v: rejected n=%d with only %d in the last per+s+10ns", s, n, c)
			}
		}
		checkWindows(t, s, m.log)
	}
	// Saturation: one request every ms for 100 periods of 1s, 20 per second.
	s := Settings{Algorithm: SlidingWindow, Requests: 20, Per: time.Second}
	var state []byte
	admitted := 0
	for i := 0; i < 100_000; i++ {
		d, next := Decide(s, state, t0.Add(time.Duration(i)*ms), 1)
		if d.Allowed {
			admitted++
			state = next
		}
	}
	if lo, hi := 100*20*10/11, 100*20; admitted < lo || admitted > hi {
		t.Fatalf("saturated: %d admitted over 100 periods, want in [%d, %d]", admitted, lo, hi)
	} else {
		t.Logf("saturated sliding_window: %d of at most %d admitted (%.1f%%)", admitted, hi, 100*float64(admitted)/float64(hi))
	}
}

// TestGCRAEqualsTokenBucket: the two admit the same sequences with the same
// header values (fixed settings, random arrivals).
func TestGCRAEqualsTokenBucket(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for seq := 0; seq < 200; seq++ {
		s := randomSettings(rng, TokenBucket)
		g := s
		g.Algorithm = GCRA
		var st1, st2 []byte
		var now int64
		for i := 0; i < 300; i++ {
			now += randomGap(rng, s)
			n := randomN(rng, s)
			at := t0.Add(time.Duration(now))
			d1, n1 := Decide(s, st1, at, n)
			d2, n2 := Decide(g, st2, at, n)
			if d1 != d2 {
				t.Fatalf("%+v n=%d: token_bucket %+v, gcra %+v", s, n, d1, d2)
			}
			if n1 != nil {
				st1 = n1
			}
			if n2 != nil {
				st2 = n2
			}
		}
	}
}

// TestRefundInverse: admitting n then refunding n at the same instant leaves
// every later decision as if nothing happened.
func TestRefundInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		for seq := 0; seq < 100; seq++ {
			s := randomSettings(rng, alg)
			var state []byte
			var now int64
			for i := 0; i < 50; i++ {
				now += randomGap(rng, s)
				if d, next := Decide(s, state, t0.Add(time.Duration(now)), 1); d.Allowed {
					state = next
				}
			}
			n := 1 + rng.Int64N(2)
			at := t0.Add(time.Duration(now))
			d, next := Decide(s, state, at, n)
			if !d.Allowed {
				continue
			}
			back := Refund(s, next, at, n)
			if back == nil {
				t.Fatalf("%v: refund after admission wrote nothing", alg)
			}
			for _, later := range []time.Duration{0, 1, time.Duration(s.Per) / 3, time.Duration(s.Per), 5 * time.Duration(s.Per)} {
				for k := int64(0); k <= 3; k++ {
					a, _ := Decide(s, state, at.Add(later), k)
					b, _ := Decide(s, back, at.Add(later), k)
					if a != b {
						t.Fatalf("%v %+v: after admit+refund of %d, at +%v n=%d: %+v, untouched %+v", alg, s, n, later, k, b, a)
					}
				}
			}
		}
	}
}

func (a admission) String() string { return fmt.Sprintf("%d×%d", a.n, a.t) }

// TestLeakyDepartures: random arrivals of 1 (refunds only of the request
// just admitted, as AllowAll's undo does): departures keep arrival order,
// conform to (Burst, Requests/Per), no delay exceeds MaxDelay, and a
// rejected request could not have departed within MaxDelay.
func TestLeakyDepartures(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	delayed := 0
	for seq := 0; seq < 200; seq++ {
		s := randomSettings(rng, LeakyBucket)
		m := newRefLeaky(s)
		var state []byte
		var now int64
		for i := 0; i < 200; i++ {
			now += randomGap(rng, s)
			at := t0.Add(time.Duration(now))
			want := m.decide(now, 1)
			d, next := Decide(s, state, at, 1)
			if d != want {
				t.Fatalf("%+v: got %+v want %+v", s, d, want)
			}
			if d.Delay > s.MaxDelay {
				t.Fatalf("%+v: delay %v over max_delay", s, d.Delay)
			}
			if d.Delay > 0 {
				delayed++
			}
			if d.Allowed {
				state = next
				if rng.IntN(10) == 0 {
					m.departures = m.departures[:len(m.departures)-1]
					m.refund(now, 1)
					state = Refund(s, state, at, 1)
				}
			} else if d.RetryAfter <= 0 {
				t.Fatalf("%+v: rejection without a retry time: %+v", s, d)
			}
		}
		checkDepartures(t, s, m.departures)
	}
	if delayed < 1000 {
		t.Fatalf("only %d delayed requests: the sequences do not exercise shaping", delayed)
	}
	t.Logf("%d requests delayed", delayed)
}
