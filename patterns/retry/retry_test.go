package retry

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

var t0 = time.Unix(1_700_000_000, 0) // a bucket boundary

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestNormalize(t *testing.T) {
	ok := []struct{ in, want Settings }{
		{Settings{}, Of(0.2, 5)},
		{Settings{Ratio: ptr(0.5)}, Of(0.5, 5)},
		{Settings{MinPerSecond: ptr(3)}, Of(0.2, 3)},
		{Of(0, 3), Of(0, 3)},
		{Of(0.5, 0), Of(0.5, 0)},
		{Of(1000, 1_000_000), Of(1000, 1_000_000)},
	}
	for _, c := range ok {
		got, err := c.in.Normalize()
		gr, gm := got.Values()
		wr, wm := c.want.Values()
		if err != nil || gr != wr || gm != wm || got.Ratio == nil || got.MinPerSecond == nil {
			t.Errorf("%+v: got %+v %v, want %+v", c.in, got, err, c.want)
		}
	}
	for _, s := range []Settings{{Ratio: ptr(-0.1)}, {Ratio: ptr(math.NaN())}, {Ratio: ptr(math.Inf(1))}, {Ratio: ptr(1001.0)}, {MinPerSecond: ptr(-1)}, Of(1, 1_000_001), Of(0, 0)} {
		if _, err := s.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v", s, err)
		}
	}
	b := NewBudget("k", Settings{Ratio: ptr(-1.0)})
	if _, err := b.TryRetry(store.NewMem(0, 1), t0, 1); !errors.Is(err, ErrInvalid) || b.Err() == nil {
		t.Fatalf("invalid settings must surface: %v", err)
	}
}

func TestSteps(t *testing.T) {
	b := NewBudget("ns/retry/p", Of(0.5, 1))
	st := store.NewMem(0, 1)
	type step struct {
		ms      int
		op      string // try req reqtry refund charge none
		n       int
		from    int // refund: grant instant (ms)
		granted int
		req     int // usage after the step
		ret     int
		avail   int
		comment string
	}
	steps := []step{
		{ms: 0, op: "none", avail: 1, comment: "fresh"},
		{ms: 0, op: "try", n: 3, granted: 1, ret: 1, comment: "min_per_second alone"},
		{ms: 0, op: "try", n: 1, granted: 0, ret: 1},
		{ms: 10, op: "req", req: 1, ret: 1},
		{ms: 10, op: "req", req: 2, ret: 1, avail: 1},
		{ms: 10, op: "req", req: 3, ret: 1, avail: 1, comment: "floor(0.5×3+1) = 2"},
		{ms: 10, op: "req", req: 4, ret: 1, avail: 2},
		{ms: 20, op: "try", n: 5, granted: 2, req: 4, ret: 3},
		{ms: 30, op: "refund", from: 20, n: 1, req: 4, ret: 2, avail: 1, comment: "one of the two was not used"},
		{ms: 40, op: "try", n: 0, req: 4, ret: 2, avail: 1, comment: "asking for none"},
		{ms: 150, op: "reqtry", n: 3, granted: 1, req: 5, ret: 3, comment: "floor(2.5+1)=3, 2 used"},
		{ms: 999, op: "none", req: 5, ret: 3, comment: "the window is epochs 0..9"},
		{ms: 1000, op: "none", req: 1, ret: 1, comment: "epoch 0 slid out; epoch 1 remains"},
		{ms: 1000, op: "refund", from: 20, n: 1, req: 1, ret: 1, comment: "grant bucket gone: nothing to give back"},
		{ms: 1000, op: "refund", from: 150, n: 5, req: 1, avail: 1, comment: "refund bounded by what the bucket holds"},
		{ms: 1050, op: "charge", n: 3, req: 1, ret: 3, comment: "unreserved retries are counted, unchecked"},
		{ms: 1060, op: "reqtry", n: 2, granted: 0, req: 2, ret: 3, comment: "over budget"},
		{ms: 500, op: "req", req: 3, ret: 3, comment: "a clock 0.56s behind: still in the window"},
		{ms: 40, op: "req", req: 3, ret: 3, comment: "a clock 1s behind: out of the window, not counted"},
		{ms: 40, op: "charge", n: 1, req: 3, ret: 4, comment: "late retries are counted in the newest bucket"},
		{ms: 1099, op: "none", req: 3, ret: 4},
		{ms: 1100, op: "none", req: 2, ret: 4, comment: "epoch 1 slid out"},
		{ms: 1499, op: "none", req: 2, ret: 4},
		{ms: 1500, op: "none", req: 1, ret: 4, comment: "the 500ms request slid out"},
		{ms: 1999, op: "none", req: 1, ret: 4},
		{ms: 2000, op: "none", avail: 1, comment: "all slid out"},
		{ms: 10_000, op: "try", n: 2, granted: 1, ret: 1, comment: "long idle: fresh window"},
	}
	for i, s := range steps {
		now := at(s.ms)
		var granted int
		var err error
		switch s.op {
		case "try":
			granted, err = b.TryRetry(st, now, s.n)
		case "req":
			err = b.RecordRequest(st, now)
		case "reqtry":
			granted, err = b.RequestRetries(st, now, s.n)
		case "refund":
			err = b.Refund(st, at(s.from), now, s.n)
		case "charge":
			err = b.Charge(st, now, s.n)
		case "none":
		default:
			t.Fatalf("bad op %s", s.op)
		}
		if err != nil || granted != s.granted {
			t.Errorf("step %d (t=%dms %s %d, %s): granted %d %v, want %d", i, s.ms, s.op, s.n, s.comment, granted, err, s.granted)
		}
		req, ret, avail, err := b.Usage(st, now)
		if err != nil || req != s.req || ret != s.ret || avail != s.avail {
			t.Errorf("step %d (t=%dms %s %d, %s): usage %d %d %d %v, want %d %d %d", i, s.ms, s.op, s.n, s.comment, req, ret, avail, err, s.req, s.ret, s.avail)
		}
	}
}

// model is the brute-force reference: counts per epoch, the head is the
// newest epoch any operation saw.
type model struct {
	s        Settings
	head     int64
	req, ret map[int64]int
}

func (m *model) in(e int64) bool { return e <= m.head && e > m.head-Buckets }
func (m *model) see(e int64) {
	if e > m.head {
		m.head = e
		for x := range m.req { // epochs that left the window never come back
			if x <= e-Buckets {
				delete(m.req, x)
			}
		}
		for x := range m.ret {
			if x <= e-Buckets {
				delete(m.ret, x)
			}
		}
	}
}
func (m *model) sumsAt(h int64) (r, x int) {
	for e, n := range m.req {
		if e <= h && e > h-Buckets {
			r += n
		}
	}
	for e, n := range m.ret {
		if e <= h && e > h-Buckets {
			x += n
		}
	}
	return
}
func (m *model) avail() int { return m.availAt(m.head) }
func (m *model) availAt(h int64) int {
	r, x := m.sumsAt(h)
	return int(math.Floor(m.ratio()*float64(r)+float64(m.minPS())+1e-9)) - x
}
func (m *model) addRet(e int64, n int) {
	if !m.in(e) {
		e = m.head
	}
	m.ret[e] += n
}

func TestAgainstModel(t *testing.T) {
	for seed := range uint64(30) {
		r := rand.New(rand.NewPCG(seed, 11))
		ratio, minPS := []float64{0, 0.1, 0.2, 0.5, 1.5}[seed%5], int(seed%4)
		if ratio == 0 && minPS == 0 {
			minPS = 2
		}
		s := Of(ratio, minPS)
		b := NewBudget("k", s)
		st := store.NewMem(0.2, seed)
		m := &model{s: s, req: map[int64]int{}, ret: map[int64]int{}}
		clock := t0
		var grants []time.Time
		for i := range 4000 {
			clock = clock.Add(time.Duration(r.IntN(60)) * time.Millisecond)
			now := clock
			if r.IntN(10) == 0 { // a worker whose clock lags up to 1.5s
				now = clock.Add(-time.Duration(r.IntN(1500)) * time.Millisecond)
			}
			e := epochOf(now)
			switch op := r.IntN(5); op {
			case 0, 1:
				if err := b.RecordRequest(st, now); err != nil {
					t.Fatal(err)
				}
				m.see(e)
				if m.in(e) {
					m.req[e]++
				}
			case 2:
				n := r.IntN(4)
				g, err := b.TryRetry(st, now, n)
				if err != nil {
					t.Fatal(err)
				}
				want := 0
				if n > 0 { // asking for none is a no-op
					m.see(e)
					want = max(0, min(n, m.avail()))
					m.addRet(e, want)
				}
				if g != want {
					t.Fatalf("seed %d op %d: granted %d, model %d", seed, i, g, want)
				}
				if g > 0 {
					grants = append(grants, now)
				}
			case 3:
				n := r.IntN(3)
				g, err := b.RequestRetries(st, now, n)
				if err != nil {
					t.Fatal(err)
				}
				m.see(e)
				if m.in(e) {
					m.req[e]++
				}
				want := max(0, min(n, m.avail()))
				m.addRet(e, want)
				if g != want {
					t.Fatalf("seed %d op %d: request+granted %d, model %d", seed, i, g, want)
				}
				if g > 0 {
					grants = append(grants, now)
				}
			case 4:
				if len(grants) == 0 {
					continue
				}
				ga := grants[r.IntN(len(grants))]
				n := 1 + r.IntN(2)
				if err := b.Refund(st, ga, now, n); err != nil {
					t.Fatal(err)
				}
				m.see(e)
				if eg := epochOf(ga); m.in(eg) {
					m.ret[eg] -= min(n, m.ret[eg])
				}
			}
			ut := clock.Add(-time.Duration(r.IntN(50)) * time.Millisecond)
			req, ret, avail, _ := b.Usage(st, ut)
			h := max(m.head, epochOf(ut)) // a read looks at the window of its own instant, without writing
			mr, mx := m.sumsAt(h)
			ma := max(0, m.availAt(h))
			if req != mr || ret != mx || avail != ma {
				t.Fatalf("seed %d op %d: usage %d %d %d, model %d %d %d", seed, i, req, ret, avail, mr, mx, ma)
			}
		}
	}
}

func FuzzDecode(f *testing.F) {
	w := window{head: 123}
	w.requests[3], w.retries[3] = 7, 2
	f.Add(w.encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		w, ok := decodeStrict(b)
		if !ok {
			if d := decode(b); d != (window{}) {
				t.Fatal("corrupt input must decode as a fresh window")
			}
			return
		}
		if got := w.encode(); string(got) != string(b) {
			t.Fatal("round trip changed the bytes")
		}
		w.advance(w.head + 3)
		w.grant(w.head, 5, 0.5, 1)
	})
}

func TestCorruptIsFresh(t *testing.T) {
	st := store.NewMem(0, 1)
	b := NewBudget("k", Of(0.1, 2))
	_ = st.Set("k", []byte("garbage"), 0)
	if g, err := b.TryRetry(st, t0, 5); g != 2 || err != nil {
		t.Fatalf("granted %d %v on a corrupt record", g, err)
	}
}

// TestPendingRefundsSettle: refunds deferred in a Pending are given back by
// the next RequestRetriesSettling (one round trip) or by Flush, each to the
// bucket they were granted in; buckets that slid out give nothing back.
func TestPendingRefundsSettle(t *testing.T) {
	st := store.NewMem(0, 1)
	b := NewBudget("k", Of(0, 2))
	t0 := time.Unix(1000, 0)
	var p Pending
	if !p.Empty() {
		t.Fatal("zero Pending not empty")
	}
	for i := 0; i < 2; i++ { // spend the budget: 2 reserved
		if g, err := b.RequestRetriesSettling(st, t0, 1, &p); g != 1 || err != nil {
			t.Fatalf("grant %d: %d %v", i, g, err)
		}
	}
	if g, _ := b.RequestRetriesSettling(st, t0, 1, &p); g != 0 {
		t.Fatal("budget not spent")
	}
	p.Add(t0, 1) // one grant unused
	sets := st.Sets
	if g, err := b.RequestRetriesSettling(st, t0.Add(10*time.Millisecond), 1, &p); g != 1 || err != nil {
		t.Fatalf("settled refund not reused: %d %v", g, err)
	}
	if st.Sets != sets+1 || !p.Empty() {
		t.Fatalf("settling took %d writes (want 1), pending empty %v", st.Sets-sets, p.Empty())
	}
	p.Add(t0, 1)
	if err := b.Flush(st, t0.Add(20*time.Millisecond), &p); err != nil || !p.Empty() {
		t.Fatalf("flush: %v %v", err, p.Empty())
	}
	if _, retries, _, _ := b.Usage(st, t0.Add(20*time.Millisecond)); retries != 1 {
		t.Fatalf("retries %d after flush, want 1", retries)
	}
	// A refund of a bucket that slid out of the window gives nothing back.
	p.Add(t0, 1)
	late := t0.Add(2 * time.Second)
	if err := b.Flush(st, late, &p); err != nil {
		t.Fatal(err)
	}
	if _, retries, _, _ := b.Usage(st, late); retries != 0 {
		t.Fatalf("retries %d", retries)
	}
	if err := b.Flush(st, late, &p); err != nil { // empty: no round trip
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func (m *model) ratio() float64 { r, _ := m.s.Values(); return r }
func (m *model) minPS() int     { _, n := m.s.Values(); return n }
