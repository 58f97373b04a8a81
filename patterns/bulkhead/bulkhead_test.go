package bulkhead

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

var t0 = time.Unix(1_700_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestNormalize(t *testing.T) {
	ok := []struct{ in, want Settings }{
		{Settings{MaxConcurrent: 1}, Settings{MaxConcurrent: 1, LeaseTTL: DefaultLeaseTTL}},
		{Settings{MaxConcurrent: 3, MaxWait: time.Second, WaiterTTL: time.Second}, Settings{MaxConcurrent: 3, LeaseTTL: DefaultLeaseTTL}},
		{Settings{MaxConcurrent: 20, QueueSize: 50, MaxWait: 100 * time.Millisecond, LeaseTTL: time.Second},
			Settings{MaxConcurrent: 20, QueueSize: 50, MaxWait: 100 * time.Millisecond, LeaseTTL: time.Second, WaiterTTL: 100 * time.Millisecond}},
		{Settings{MaxConcurrent: 2, QueueSize: 1, MaxWait: time.Second, WaiterTTL: time.Hour},
			Settings{MaxConcurrent: 2, QueueSize: 1, MaxWait: time.Second, LeaseTTL: DefaultLeaseTTL, WaiterTTL: time.Second}},
		{Settings{MaxConcurrent: 2, QueueSize: 1, MaxWait: time.Second, WaiterTTL: time.Millisecond},
			Settings{MaxConcurrent: 2, QueueSize: 1, MaxWait: time.Second, LeaseTTL: DefaultLeaseTTL, WaiterTTL: time.Millisecond}},
		{Settings{MaxConcurrent: 4095}, Settings{MaxConcurrent: 4095, LeaseTTL: DefaultLeaseTTL}},
	}
	for _, c := range ok {
		got, err := c.in.Normalize()
		if err != nil || got != c.want {
			t.Errorf("%+v: got %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := []Settings{
		{}, {MaxConcurrent: -1}, {MaxConcurrent: 1, QueueSize: -1}, {MaxConcurrent: 1, LeaseTTL: -1},
		{MaxConcurrent: 1, QueueSize: 1}, {MaxConcurrent: 1, QueueSize: 1, MaxWait: -1},
		{MaxConcurrent: 1, QueueSize: 1, MaxWait: 1, WaiterTTL: -1},
		{MaxConcurrent: 4096}, {MaxConcurrent: 1000, QueueSize: 2100, MaxWait: 1}, {MaxConcurrent: 1 << 40},
	}
	for _, s := range bad {
		if _, err := s.Normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want ErrInvalid", s, err)
		}
	}
	b := New("p", 1, Settings{})
	if _, _, err := b.Acquire(store.NewMem(0, 1), "k", 1, t0); !errors.Is(err, ErrInvalid) || b.Err() == nil {
		t.Fatalf("invalid settings must surface on every call, got %v", err)
	}
}

type step struct {
	ms      int
	op      string // acq rel renew enq admit deq
	id      uint64
	ok      bool  // acq, rel, enq, admit
	pos     int   // enq
	err     error // expected error
	active  int   // after the step, at the same instant
	queued  int
	comment string
}

func runSteps(t *testing.T, b *Bulkhead, st store.Store, steps []step) {
	t.Helper()
	leases := map[uint64]Lease{}
	for i, s := range steps {
		now := at(s.ms)
		var ok bool
		var pos int
		var err error
		switch s.op {
		case "acq":
			var l Lease
			l, ok, err = b.Acquire(st, "k", s.id, now)
			if ok {
				if l.Holder != s.id || !l.Expires.Equal(now.Add(b.s.LeaseTTL)) {
					t.Errorf("step %d: lease %+v", i, l)
				}
				leases[s.id] = l
			}
		case "rel":
			ok, err = b.Release(st, "k", Lease{Holder: s.id}, now)
		case "renew":
			err = b.Renew(st, "k", Lease{Holder: s.id}, now)
		case "enq":
			pos, ok, err = b.Enqueue(st, "k", s.id, now)
		case "admit":
			var l Lease
			l, ok, err = b.TryAdmitQueued(st, "k", s.id, now)
			if ok && l.Holder != s.id {
				t.Errorf("step %d: lease %+v", i, l)
			}
		case "deq":
			err = b.Dequeue(st, "k", s.id, now)
		case "none":
		default:
			t.Fatalf("bad op %q", s.op)
		}
		if !errors.Is(err, s.err) || (s.err == nil && err != nil) {
			t.Errorf("step %d (t=%dms %s %d, %s): err %v, want %v", i, s.ms, s.op, s.id, s.comment, err, s.err)
		}
		if ok != s.ok || pos != s.pos {
			t.Errorf("step %d (t=%dms %s %d, %s): ok %v pos %d, want %v %d", i, s.ms, s.op, s.id, s.comment, ok, pos, s.ok, s.pos)
		}
		a, err1 := b.Active(st, "k", now)
		q, err2 := b.Queued(st, "k", now)
		if ca, cq, err := b.Counts(st, "k", now); err != nil || ca != a || cq != q {
			t.Errorf("step %d: Counts %d %d %v, Active/Queued %d %d", i, ca, cq, err, a, q)
		}
		if err1 != nil || err2 != nil || a != s.active || q != s.queued {
			t.Errorf("step %d (t=%dms %s %d, %s): active %d queued %d (%v %v), want %d %d", i, s.ms, s.op, s.id, s.comment, a, q, err1, err2, s.active, s.queued)
		}
	}
}

func TestSteps(t *testing.T) {
	b := New("bh", 10, Settings{MaxConcurrent: 2, QueueSize: 2, MaxWait: 100 * time.Millisecond, LeaseTTL: time.Second, WaiterTTL: 50 * time.Millisecond})
	runSteps(t, b, store.NewMem(0, 1), []step{
		{ms: 0, op: "none", comment: "fresh key"},
		{ms: 0, op: "acq", id: 1, ok: true, active: 1},
		{ms: 0, op: "acq", id: 1, ok: true, active: 1, comment: "same holder: same lease"},
		{ms: 1, op: "acq", id: 2, ok: true, active: 2},
		{ms: 2, op: "acq", id: 3, ok: false, active: 2, comment: "full"},
		{ms: 2, op: "enq", id: 3, ok: true, pos: 0, active: 2, queued: 1},
		{ms: 3, op: "enq", id: 4, ok: true, pos: 1, active: 2, queued: 2},
		{ms: 3, op: "enq", id: 3, ok: true, pos: 0, active: 2, queued: 2, comment: "re-enqueue keeps the place"},
		{ms: 4, op: "enq", id: 5, ok: false, active: 2, queued: 2, comment: "queue full"},
		{ms: 5, op: "acq", id: 6, ok: false, active: 2, queued: 2},
		{ms: 6, op: "admit", id: 4, ok: false, active: 2, queued: 2, comment: "no free permit"},
		{ms: 10, op: "rel", id: 1, ok: true, active: 1, queued: 2},
		{ms: 10, op: "rel", id: 1, ok: false, active: 1, queued: 2, comment: "second release is a no-op"},
		{ms: 11, op: "acq", id: 7, ok: false, active: 1, queued: 2, comment: "free permit is the queue's"},
		{ms: 12, op: "admit", id: 4, ok: false, active: 1, queued: 2, comment: "waiter 3 ahead needs it"},
		{ms: 13, op: "admit", id: 3, ok: true, active: 2, queued: 1, comment: "head admitted"},
		{ms: 14, op: "admit", id: 3, err: ErrNotQueued, active: 2, queued: 1},
		{ms: 61, op: "none", active: 2, queued: 1, comment: "waiter 4 last seen at 12ms, ttl 50ms"},
		{ms: 62, op: "none", active: 2, queued: 0, comment: "waiter 4 dropped: no heartbeat"},
		{ms: 62, op: "admit", id: 4, err: ErrNotQueued, active: 2},
		{ms: 70, op: "enq", id: 8, ok: true, active: 2, queued: 1},
		{ms: 110, op: "admit", id: 8, active: 2, queued: 1, comment: "heartbeat"},
		{ms: 150, op: "admit", id: 8, active: 2, queued: 1, comment: "heartbeat"},
		{ms: 169, op: "none", active: 2, queued: 1},
		{ms: 170, op: "admit", id: 8, err: ErrNotQueued, active: 2, comment: "max_wait passed"},
		{ms: 500, op: "renew", id: 2, active: 2, comment: "lease 2 now expires at 1500ms"},
		{ms: 1012, op: "none", active: 2},
		{ms: 1013, op: "none", active: 1, comment: "lease 3 (admitted at 13ms) expired"},
		{ms: 1013, op: "renew", id: 3, err: ErrLeaseLost, active: 1},
		{ms: 1013, op: "rel", id: 3, ok: false, active: 1, comment: "expired lease: release is a no-op"},
		{ms: 1013, op: "acq", id: 9, ok: true, active: 2, comment: "expired permit reclaimed"},
		{ms: 1499, op: "none", active: 2},
		{ms: 1500, op: "acq", id: 10, ok: true, active: 2, comment: "lease 2 expired, its permit reused"},
		{ms: 1600, op: "deq", id: 77, active: 2, comment: "dequeue of an absent waiter"},
		{ms: 1600, op: "enq", id: 11, ok: true, active: 2, queued: 1},
		{ms: 1601, op: "deq", id: 11, active: 2, queued: 0},
		{ms: 1602, op: "rel", id: 9, ok: true, active: 1},
		{ms: 1603, op: "rel", id: 10, ok: true, active: 0},
		{ms: 1603, op: "acq", id: 12, ok: true, active: 1},
		{ms: 1603, op: "acq", id: 13, ok: true, active: 2},
		{ms: 1603, op: "acq", id: 14, ok: false, active: 2},
	})
}

func TestNoQueue(t *testing.T) {
	b := New("bh", 10, Settings{MaxConcurrent: 1, MaxWait: time.Second})
	runSteps(t, b, store.NewMem(0, 1), []step{
		{ms: 0, op: "acq", id: 1, ok: true, active: 1},
		{ms: 0, op: "acq", id: 2, ok: false, active: 1},
		{ms: 0, op: "enq", id: 2, ok: false, active: 1, comment: "no queue: reject at once"},
		{ms: 0, op: "admit", id: 2, err: ErrNotQueued, active: 1},
		{ms: 59999, op: "none", active: 1},
		{ms: 60000, op: "none", active: 0, comment: "default lease ttl 60s"},
	})
}

// TestHeartbeatUnusedWithoutWaiterTTL: with WaiterTTL = MaxWait a poll that
// does not admit writes nothing.
func TestHeartbeatUnusedWithoutWaiterTTL(t *testing.T) {
	b := New("bh", 10, Settings{MaxConcurrent: 1, QueueSize: 4, MaxWait: time.Second})
	st := store.NewMem(0, 1)
	b.Acquire(st, "k", 1, t0)
	b.Enqueue(st, "k", 2, t0)
	sets := st.Sets
	for i := range 10 {
		if _, ok, err := b.TryAdmitQueued(st, "k", 2, at(i)); ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if st.Sets != sets {
		t.Fatalf("unsuccessful polls wrote %d times", st.Sets-sets)
	}
}

func TestFIFOOrder(t *testing.T) {
	const n = 40
	b := New("bh", 10, Settings{MaxConcurrent: 3, QueueSize: n, MaxWait: time.Hour, LeaseTTL: time.Hour})
	st := store.NewMem(0, 1)
	var holders []Lease
	for i := range 3 {
		l, ok, _ := b.Acquire(st, "k", uint64(1000+i), t0)
		if !ok {
			t.Fatal("setup")
		}
		holders = append(holders, l)
	}
	for i := range n {
		if pos, ok, err := b.Enqueue(st, "k", uint64(i), at(i)); !ok || err != nil || pos != i {
			t.Fatalf("enqueue %d: pos %d %v %v", i, pos, ok, err)
		}
	}
	// Free one permit at a time; after each release every waiter polls, in a
	// scrambled order: exactly the oldest waiter must be admitted.
	order := []int{}
	perm := []int{}
	for i := range n {
		perm = append(perm, (i*17+5)%n)
	}
	ms := n
	for len(order) < n {
		l := holders[0]
		holders = holders[1:]
		if ok, err := b.Release(st, "k", l, at(ms)); !ok || err != nil {
			t.Fatalf("release: %v %v", ok, err)
		}
		admitted := 0
		for _, w := range perm {
			ms++
			nl, ok, err := b.TryAdmitQueued(st, "k", uint64(w), at(ms))
			if err != nil && !errors.Is(err, ErrNotQueued) {
				t.Fatal(err)
			}
			if ok {
				admitted++
				order = append(order, w)
				holders = append(holders, nl)
			}
		}
		if admitted != 1 {
			t.Fatalf("one permit freed, %d admitted", admitted)
		}
	}
	for i, w := range order {
		if w != i {
			t.Fatalf("admission order %v is not FIFO", order)
		}
	}
}

func TestCorruptRecordIsFresh(t *testing.T) {
	st := store.NewMem(0, 1)
	b := New("bh", 1, Settings{MaxConcurrent: 1})
	for _, bad := range [][]byte{{}, {9, 0, 0, 0, 0}, {1, 1, 0, 0, 0}, {1, 0, 0, 0, 0, 7}} {
		tb := store.NewTable("bh", 1)
		if err := tb.Update(st, "k", 0, func([]byte) ([]byte, bool, error) { return bad, true, nil }); err != nil {
			t.Fatal(err)
		}
		if a, err := b.Active(st, "k", t0); a != 0 || err != nil {
			t.Fatalf("%v: active %d %v", bad, a, err)
		}
		if _, ok, err := b.Acquire(st, "k", 1, t0); !ok || err != nil {
			t.Fatalf("%v: acquire on a corrupt record: %v %v", bad, ok, err)
		}
		if a, _ := b.Active(st, "k", t0); a != 1 {
			t.Fatalf("active %d", a)
		}
	}
}

func TestKeysIndependentAndBounded(t *testing.T) {
	st := store.NewMem(0, 1)
	b := New("bh", 8, Settings{MaxConcurrent: 1})
	for i := range 8 {
		if _, ok, _ := b.Acquire(st, fmt.Sprint("key", i), 1, t0); !ok {
			t.Fatalf("key %d: a fresh key must admit", i)
		}
	}
	for i := range 1000 {
		b.Acquire(st, fmt.Sprint("other", i), 1, t0)
	}
	if st.Len() > 3 {
		t.Fatalf("%d store keys, bound 3 (2 sets and the overflow)", st.Len())
	}
}

func FuzzDecode(f *testing.F) {
	r := record{leases: []lease{{1, 2}}, waiters: []waiterRec{{3, 4, 5}}}
	f.Add(r.encode())
	f.Add((&record{}).encode())
	f.Add([]byte{1, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, ok := decodeStrict(b)
		if !ok {
			if d := decode(b); len(d.leases) != 0 || len(d.waiters) != 0 {
				t.Fatal("corrupt input must decode as a fresh record")
			}
			return
		}
		if got := r.encode(); string(got) != string(b) {
			t.Fatalf("round trip changed the bytes")
		}
		r.prune(0, Settings{MaxWait: 1, WaiterTTL: 1})
	})
}

func TestObserveReportsRecordCounts(t *testing.T) {
	st := store.NewMem(0, 1)
	b := New("p", 16, Settings{MaxConcurrent: 1, QueueSize: 2, MaxWait: time.Second})
	type obs struct{ active, queued int }
	var got []obs
	b.Observe(func(key string, a, q int) {
		if key != "k" {
			t.Fatalf("key %q", key)
		}
		got = append(got, obs{a, q})
	})
	t0 := time.Unix(1000, 0)
	l, ok, err := b.Acquire(st, "k", 1, t0)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, ok, _ := b.Acquire(st, "k", 2, t0); ok { // full: no write, still observed
		t.Fatal("acquired beyond capacity")
	}
	if _, ok, _ := b.Enqueue(st, "k", 3, t0); !ok {
		t.Fatal("enqueue")
	}
	if _, err := b.Release(st, "k", l, t0); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.TryAdmitQueued(st, "k", 3, t0); !ok {
		t.Fatal("admit")
	}
	want := []obs{{1, 0}, {1, 0}, {1, 1}, {0, 1}, {1, 0}}
	if len(got) != len(want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("observed %v, want %v", got, want)
		}
	}
}

// TestOverflowNeverEvictsLive: max_keys 4 (one set): four keys holding
// leases keep them whatever the number of other keys; the others share the
// overflow bulkhead (MaxConcurrent for all of them); a lease taken in the
// overflow is released there even after its key found room in its set.
func TestOverflowNeverEvictsLive(t *testing.T) {
	st := store.NewMem(0, 1)
	b := New("bh", 4, Settings{MaxConcurrent: 2, LeaseTTL: time.Hour})
	for i := range 4 {
		if _, ok, _ := b.Acquire(st, fmt.Sprint("live", i), 1, t0); !ok {
			t.Fatalf("live %d", i)
		}
	}
	var over []Lease
	for i := range 10000 {
		if l, ok, err := b.Acquire(st, fmt.Sprint("flood", i), uint64(100+i), t0); err != nil {
			t.Fatal(err)
		} else if ok {
			over = append(over, l)
		}
	}
	if len(over) != 2 {
		t.Fatalf("%d flood keys admitted, want the overflow's 2", len(over))
	}
	for i := range 4 {
		if a, _ := b.Active(st, fmt.Sprint("live", i), t0); a != 1 {
			t.Fatalf("live %d lost its lease: %d active", i, a)
		}
	}
	// live0 releases: its record is idle, flood0 can take its place...
	if held, _ := b.Release(st, "live0", Lease{Holder: 1}, t0); !held {
		t.Fatal("live0 release")
	}
	if _, ok, _ := b.Acquire(st, "flood0", 999, t0); !ok {
		t.Fatal("flood0 found no room in its set after live0 left")
	}
	// ...and its earlier lease, taken in the overflow, is released there.
	if held, err := b.Release(st, "flood0", over[0], t0); !held || err != nil {
		t.Fatalf("overflow lease of flood0: held %v %v", held, err)
	}
	if _, ok, _ := b.Acquire(st, "flood-new", 5, t0); !ok {
		t.Fatal("the overflow slot freed by flood0's release is not free")
	}
}
