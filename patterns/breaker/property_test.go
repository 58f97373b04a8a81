package breaker

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// model is a brute-force reference of the contract (docs/configuration.md and doc.go):
// it keeps every outcome of the generation in a list and recomputes the
// window from it, and tracks probes by identity, not by slot.
type model struct {
	s       Settings
	state   State
	gen     uint32
	trip    int
	at      time.Time
	calls   []mCall
	consec  int
	pending map[int]bool // probe ids admitted, not settled
	done    int          // probes succeeded
	nextID  int
}

type mCall struct {
	at         time.Time
	fail, slow bool
}

type mTok struct {
	gen       uint32
	probe, wr bool
	id        int
	zero      bool
}

func newModel(s Settings) *model {
	s, _ = s.Normalize()
	return &model{s: s, state: Closed, gen: 1, pending: map[int]bool{}}
}

func (m *model) openDur() time.Duration {
	d := float64(m.s.OpenDuration)
	for i := 1; i < m.trip; i++ {
		d *= m.s.OpenBackoff
		if d >= float64(m.s.MaxOpenDuration) {
			return m.s.MaxOpenDuration
		}
	}
	return min(time.Duration(d), m.s.MaxOpenDuration)
}

func (m *model) move(to State, now time.Time) Transition {
	from := m.state
	m.state, m.at = to, now
	m.gen++
	m.calls, m.consec, m.pending, m.done = nil, 0, map[int]bool{}, 0
	return Transition{From: from, To: to, Generation: m.gen, Trip: m.trip, At: now}
}

// window returns the calls of the window at now.
func (m *model) window(now time.Time) (n, f, sl int) {
	var in []mCall
	if m.s.Window == CountWindow {
		in = m.calls[max(0, len(m.calls)-m.s.WindowSize):]
	} else {
		d := int64(m.s.WindowDuration) / int64(m.s.Buckets)
		for _, c := range m.calls {
			if now.UnixNano()/d-c.at.UnixNano()/d < int64(m.s.Buckets) {
				in = append(in, c)
			}
		}
	}
	for _, c := range in {
		n++
		if c.fail {
			f++
		}
		if c.slow {
			sl++
		}
	}
	return
}

func (m *model) allow(now time.Time) (mTok, bool, []Transition) {
	switch m.s.Mode {
	case Disabled:
		return mTok{zero: true}, true, nil
	case ForcedOpen:
		return mTok{zero: true}, false, nil
	}
	var tr []Transition
	switch m.state {
	case Closed:
		return mTok{gen: m.gen}, true, nil
	case Open:
		if now.Sub(m.at) < m.openDur() {
			return m.reject()
		}
		tr = append(tr, m.move(HalfOpen, now))
	case HalfOpen:
		if len(m.pending)+m.done >= m.s.HalfOpenCalls {
			if now.Sub(m.at) < m.s.HalfOpenMaxWait {
				return m.reject()
			}
			tr = append(tr, m.move(HalfOpen, now))
		}
	}
	m.nextID++
	m.pending[m.nextID] = true
	m.at = now
	return mTok{gen: m.gen, probe: true, id: m.nextID}, true, tr
}

func (m *model) reject() (mTok, bool, []Transition) {
	if m.s.Mode == Observe {
		return mTok{gen: m.gen, wr: true}, true, nil
	}
	return mTok{zero: true}, false, nil
}

func (m *model) report(t mTok, now time.Time, o Outcome) []Transition {
	if m.s.Mode >= ForcedOpen || t.zero || t.wr || t.gen != m.gen {
		return nil
	}
	slow := m.s.SlowCallDuration > 0 && o.Duration >= m.s.SlowCallDuration
	switch {
	case m.state == Closed && !t.probe:
		m.calls = append(m.calls, mCall{now, o.Failure, slow})
		if o.Failure {
			m.consec++
		} else {
			m.consec = 0
		}
		n, f, sl := m.window(now)
		fr, sr := 0.0, 0.0
		if n > 0 {
			fr, sr = float64(f)/float64(n), float64(sl)/float64(n)
		}
		opens := m.s.ConsecutiveFailures > 0 && m.consec >= m.s.ConsecutiveFailures
		opens = opens || n >= m.s.MinimumCalls && fr >= m.s.FailureRateThreshold
		opens = opens || n >= m.s.MinimumCalls && m.s.SlowCallDuration > 0 && sr >= m.s.SlowCallRateThreshold
		if opens {
			m.trip++
			tr := m.move(Open, now)
			tr.Calls, tr.FailureRate, tr.SlowRate = n, fr, sr
			return []Transition{tr}
		}
	case m.state == HalfOpen && t.probe && m.pending[t.id]:
		delete(m.pending, t.id)
		if o.Failure || slow {
			n := m.done + 1
			f, sl := 0.0, 0.0
			if o.Failure {
				f = 1 / float64(n)
			}
			if slow {
				sl = 1 / float64(n)
			}
			m.trip++
			tr := m.move(Open, now)
			tr.Calls, tr.FailureRate, tr.SlowRate = n, f, sl
			return []Transition{tr}
		}
		m.done++
		if m.done >= m.s.HalfOpenCalls {
			n := m.done
			m.trip = 0
			tr := m.move(Closed, now)
			tr.Calls = n
			return []Transition{tr}
		}
	}
	return nil
}

func (m *model) release(t mTok) {
	if m.s.Mode < ForcedOpen && !t.zero && !t.wr && t.probe && t.gen == m.gen && m.state == HalfOpen {
		delete(m.pending, t.id)
	}
}

func (m *model) effective(now time.Time) State {
	switch m.s.Mode {
	case Disabled:
		return Closed
	case ForcedOpen:
		return Open
	}
	if m.state == Open && now.Sub(m.at) >= m.openDur() {
		return HalfOpen
	}
	return m.state
}

func randomSettings(r *rand.Rand) Settings {
	pick := func(xs ...float64) float64 { return xs[r.IntN(len(xs))] }
	s := Settings{
		FailureRateThreshold:  pick(0.2, 0.5, 0.75, 1),
		SlowCallRateThreshold: pick(0.3, 0.5, 1),
		OpenDuration:          time.Duration(1+r.IntN(20)) * time.Second,
		OpenBackoff:           pick(1, 1.5, 2, 3),
		HalfOpenCalls:         1 + r.IntN(4),
	}
	s.MaxOpenDuration = s.OpenDuration * time.Duration(1+r.IntN(8))
	switch r.IntN(3) {
	case 0: // derived: max(OpenDuration, 60s)
	case 1:
		s.HalfOpenMaxWait = time.Duration(1+r.IntN(30)) * time.Second
	case 2:
		s.CallTimeout = time.Duration(1+r.IntN(90)) * time.Second
	}
	if r.IntN(2) == 0 {
		s.Window, s.WindowSize = CountWindow, 1+r.IntN(12)
		s.MinimumCalls = 1 + r.IntN(s.WindowSize)
	} else {
		s.Window, s.Buckets = TimeWindow, 1+r.IntN(5)
		s.WindowDuration = time.Duration(s.Buckets*(1+r.IntN(3))) * time.Second
		s.MinimumCalls = 1 + r.IntN(10)
	}
	if r.IntN(3) == 0 {
		s.ConsecutiveFailures = 1 + r.IntN(4)
	}
	if r.IntN(2) == 0 {
		s.SlowCallDuration = time.Second
	}
	switch r.IntN(10) {
	case 0:
		s.Mode = ForcedOpen
	case 1:
		s.Mode = Disabled
	case 2, 3, 4:
		s.Mode = Observe
	}
	return s
}

func sameTransitions(a, b []Transition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.From != y.From || x.To != y.To || x.Generation != y.Generation || x.Trip != y.Trip || x.Calls != y.Calls ||
			x.FailureRate != y.FailureRate || x.SlowRate != y.SlowRate || !x.At.Equal(y.At) {
			return false
		}
	}
	return true
}

// TestPropertyAgainstModel runs random operation sequences on random
// settings against the reference model and compares every answer: admission
// and token, transitions (so the breaker opens exactly when the contract
// says), State() and the stored counters.
func TestPropertyAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	const runs, ops = 800, 400
	trips := 0
	for run := range runs {
		s := randomSettings(r)
		b := New("cb", 4, s)
		m := newModel(s)
		st := store.NewMem(0, uint64(run))
		type pair struct {
			real Token
			mod  mTok
		}
		var out []pair
		now := t0
		pFail := r.Float64()
		var log []string
		fail := func(format string, a ...any) {
			t.Helper()
			start := max(0, len(log)-15)
			t.Fatalf("run %d (settings %+v), op %d: %s\nlast ops:\n%s", run, s, len(log), fmt.Sprintf(format, a...), strings.Join(log[start:], "\n"))
		}
		for range ops {
			switch x := r.IntN(100); {
			case x < 50:
			case x < 80:
				now = now.Add(time.Duration(r.IntN(1500)) * time.Millisecond)
			case x < 97:
				now = now.Add(time.Duration(r.IntN(25)) * time.Second)
			default:
				now = now.Add(time.Duration(r.IntN(600)) * time.Second)
			}
			switch x := r.IntN(100); {
			case x < 45 || len(out) == 0:
				tok, ok, tr, err := b.Allow(st, "k", now)
				mt, mok, mtr := m.allow(now)
				log = append(log, fmt.Sprintf("%v allow -> %+v %v %s", now.Sub(t0), tok, ok, trs(tr)))
				if err != nil {
					fail("Allow: %v", err)
				}
				if ok != mok || tok.Generation != mt.gen || tok.Probe != mt.probe || tok.WouldReject != mt.wr {
					fail("Allow = %+v %v, model %+v %v", tok, ok, mt, mok)
				}
				if !sameTransitions(tr, mtr) {
					fail("Allow transitions %s, model %s", trs(tr), trs(mtr))
				}
				if ok && len(out) < 30 {
					out = append(out, pair{tok, mt})
				}
			case x < 90:
				i := r.IntN(len(out))
				p := out[i]
				if r.IntN(4) != 0 { // sometimes report a token twice
					out = append(out[:i], out[i+1:]...)
				}
				o := Outcome{Failure: r.Float64() < pFail, Duration: time.Duration(r.IntN(2000)) * time.Millisecond}
				tr, err := b.Report(st, "k", p.real, now, o)
				mtr := m.report(p.mod, now, o)
				log = append(log, fmt.Sprintf("%v report %+v %+v -> %s", now.Sub(t0), p.real, o, trs(tr)))
				if err != nil {
					fail("Report: %v", err)
				}
				if !sameTransitions(tr, mtr) {
					fail("Report transitions %q, model %q", trs(tr), trs(mtr))
				}
				trips += len(tr)
			case x < 96:
				i := r.IntN(len(out))
				p := out[i]
				out = append(out[:i], out[i+1:]...)
				log = append(log, fmt.Sprintf("%v release %+v", now.Sub(t0), p.real))
				if err := b.Release(st, "k", p.real, now); err != nil {
					fail("Release: %v", err)
				}
				m.release(p.mod)
			default: // the holder vanishes
				i := r.IntN(len(out))
				out = append(out[:i], out[i+1:]...)
			}
			state, err := b.State(st, "k", now)
			if err != nil || state != m.effective(now) {
				fail("State() = %v %v, model %v", state, err, m.effective(now))
			}
			if s.Mode >= ForcedOpen {
				continue
			}
			snap, err := b.Inspect(st, "k", now)
			if err != nil {
				fail("Inspect: %v", err)
			}
			var n, f, sl int
			if m.state == Closed {
				n, f, sl = m.window(now)
			}
			if snap.State != m.state || snap.Generation != m.gen || snap.Trip != m.trip || snap.Calls != n || snap.Failures != f ||
				snap.Slow != sl || snap.ConsecutiveFailures != m.consec || snap.ProbesAdmitted != len(m.pending)+m.done ||
				snap.ProbesSucceeded != m.done {
				fail("Inspect() = %s, model %v g%d t%d n%d f%d s%d c%d p%d/%d", snapString(snap), m.state, m.gen, m.trip, n, f, sl,
					m.consec, len(m.pending)+m.done, m.done)
			}
		}
	}
	if trips < runs {
		t.Fatalf("only %d transitions from Report in %d runs: the generator does not exercise the breaker", trips, runs)
	}
}
