package bulkhead

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// model is a brute-force reference of the bulkhead's semantics: it keeps
// everything and filters by time on each question.
type model struct {
	s       Settings
	leases  map[uint64]int64 // holder -> expiry
	waiters []waiterRec      // every waiter ever enqueued and not removed
}

func (m *model) liveLeases(now int64) int {
	n := 0
	for _, e := range m.leases {
		if e > now {
			n++
		}
	}
	return n
}

func (m *model) live(w waiterRec, now int64) bool {
	return now-w.enq < int64(m.s.MaxWait) && now-w.seen < int64(m.s.WaiterTTL)
}

// pos is the index of id among the live waiters, -1 if absent.
func (m *model) pos(id uint64, now int64) (int, int) {
	p := 0
	for i, w := range m.waiters {
		if !m.live(w, now) {
			continue
		}
		if w.id == id {
			return p, i
		}
		p++
	}
	return -1, -1
}

func (m *model) queued(now int64) int {
	n := 0
	for _, w := range m.waiters {
		if m.live(w, now) {
			n++
		}
	}
	return n
}

func TestAgainstModel(t *testing.T) {
	s, _ := Settings{MaxConcurrent: 3, QueueSize: 4, MaxWait: 50 * time.Millisecond, LeaseTTL: 200 * time.Millisecond, WaiterTTL: 20 * time.Millisecond}.Normalize()
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 3))
		st := store.NewMem(0.2, seed)
		b := New("bh", 4, s)
		m := &model{s: s, leases: map[uint64]int64{}}
		now := t0
		for i := range 5000 {
			now = now.Add(time.Duration(r.IntN(8)) * time.Millisecond)
			ns := now.UnixNano()
			id := uint64(r.IntN(10))
			ttl := ns + int64(s.LeaseTTL)
			switch op := r.IntN(6); op {
			case 0:
				_, ok, err := b.Acquire(st, "k", id, now)
				want := false
				if e, held := m.leases[id]; held && e > ns {
					want = true
				} else if m.liveLeases(ns)+m.queued(ns) < s.MaxConcurrent {
					want = true
				}
				if want {
					m.leases[id] = ttl
				}
				if err != nil || ok != want {
					t.Fatalf("seed %d op %d acquire %d: %v %v, want %v", seed, i, id, ok, err, want)
				}
			case 1:
				ok, err := b.Release(st, "k", Lease{Holder: id}, now)
				e, held := m.leases[id]
				want := held && e > ns
				delete(m.leases, id)
				if err != nil || ok != want {
					t.Fatalf("seed %d op %d release %d: %v %v, want %v", seed, i, id, ok, err, want)
				}
			case 2:
				err := b.Renew(st, "k", Lease{Holder: id}, now)
				e, held := m.leases[id]
				var want error
				if held && e > ns {
					m.leases[id] = ttl
				} else {
					want = ErrLeaseLost
				}
				if !errors.Is(err, want) || (want == nil && err != nil) {
					t.Fatalf("seed %d op %d renew %d: %v, want %v", seed, i, id, err, want)
				}
			case 3:
				pos, ok, err := b.Enqueue(st, "k", id, now)
				wp, wi := m.pos(id, ns)
				wok := true
				switch {
				case wi >= 0:
					m.waiters[wi].seen = ns
				case m.queued(ns) >= s.QueueSize:
					wok, wp = false, 0
				default:
					wp = m.queued(ns)
					m.waiters = append(m.waiters, waiterRec{id: id, enq: ns, seen: ns})
				}
				if err != nil || ok != wok || pos != wp {
					t.Fatalf("seed %d op %d enqueue %d: %d %v %v, want %d %v", seed, i, id, pos, ok, err, wp, wok)
				}
			case 4:
				_, ok, err := b.TryAdmitQueued(st, "k", id, now)
				wp, wi := m.pos(id, ns)
				var werr error
				wok := false
				switch {
				case wi < 0:
					werr = ErrNotQueued
				case m.liveLeases(ns)+wp >= s.MaxConcurrent:
					m.waiters[wi].seen = ns
				default:
					wok = true
					m.waiters = append(m.waiters[:wi], m.waiters[wi+1:]...)
					m.leases[id] = ttl
				}
				if ok != wok || !errors.Is(err, werr) || (werr == nil && err != nil) {
					t.Fatalf("seed %d op %d admit %d: %v %v, want %v %v", seed, i, id, ok, err, wok, werr)
				}
			case 5:
				if err := b.Dequeue(st, "k", id, now); err != nil {
					t.Fatal(err)
				}
				if _, wi := m.pos(id, ns); wi >= 0 {
					m.waiters = append(m.waiters[:wi], m.waiters[wi+1:]...)
				}
			}
			a, _ := b.Active(st, "k", now)
			q, _ := b.Queued(st, "k", now)
			if a != m.liveLeases(ns) || q != m.queued(ns) {
				t.Fatalf("seed %d op %d: active %d queued %d, model %d %d", seed, i, a, q, m.liveLeases(ns), m.queued(ns))
			}
		}
	}
}
