package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestLimiterBoundedKeys: 100,000 distinct keys through a limit of
// max_keys 1000, for every algorithm, 100,000 distinct keys within one
// recovery time: the store never holds more than the limiter's bound of
// keys (its sets and the overflow state), all under its prefix, never more
// entries than its capacity; the first keys keep their state (live state is
// never evicted), the flood shares the overflow state, and once the
// recovery time has passed a new key takes an idle entry's place.
func TestLimiterBoundedKeys(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		s := concurrentSettings(alg)
		n, _ := s.Normalize()
		st := store.NewMem(0, 1)
		lim := NewLimiter("ns/rl/"+alg.String(), 1000)
		lim.SetRecovery(n.Recovery())
		if lim.MaxStoreKeys() != 250 || lim.Capacity() != 1000 {
			t.Fatalf("bounds %d %d", lim.MaxStoreKeys(), lim.Capacity())
		}
		full := n.Burst
		if alg == FixedWindow || alg == SlidingWindow {
			full = n.Requests
		}
		// the victim exhausts its limit first
		if d, err := lim.Allow(st, "user-0", s, t0, full); err != nil || !d.Allowed {
			t.Fatalf("%v: victim: %+v %v", alg, d, err)
		}
		const distinct = 100_000
		admitted := 0
		for i := 1; i < distinct; i++ {
			d, err := lim.Allow(st, fmt.Sprintf("user-%d", i), s, t0.Add(time.Duration(i)*time.Microsecond), 1)
			if err != nil {
				t.Fatalf("%v: key %d: %v", alg, i, err)
			}
			if d.Allowed {
				admitted++
			}
		}
		if st.Len() > lim.MaxStoreKeys()+1 {
			t.Fatalf("%v: %d store keys written, bound %d", alg, st.Len(), lim.MaxStoreKeys()+1)
		}
		entries := 0
		for _, k := range st.Keys() {
			if !strings.HasPrefix(k, "ns/rl/"+alg.String()+"/") {
				t.Fatalf("%v: key %q outside the prefix", alg, k)
			}
			v, _, _ := st.Get(k)
			entries += strings.Count(string(v), "user-")
		}
		if entries > lim.Capacity() {
			t.Fatalf("%v: %d entries kept, capacity %d", alg, entries, lim.Capacity())
		}
		// every key with an entry admitted once, the overflow at most its own capacity (+ what drained in 0.1s)
		if admitted > entries+int(n.Requests)+int(max(n.Burst, n.Requests)) {
			t.Fatalf("%v: %d admitted for %d entries: the overflow admitted more than one limit", alg, admitted, entries)
		}
		end := t0.Add(distinct * time.Microsecond)
		first, _ := lim.Peek(st, "user-0", s, end)
		if first.Remaining > 2 { // 0.1s at 20/s refills 2
			t.Fatalf("%v: the exhausted victim got its limit back under the flood: %+v (full %d)", alg, first, full)
		}
		later := end.Add(n.Recovery())
		if d, err := lim.Allow(st, "late-comer", s, later, 1); err != nil || !d.Allowed || d.Remaining != full-1 {
			t.Fatalf("%v: after the recovery time a new key gets %+v %v, want its own fresh state", alg, d, err)
		}
		t.Logf("%v: %d store keys, %d entries, %d admitted for %d distinct keys", alg, st.Len(), entries, admitted, distinct)
	}
}

func TestLimiterInvalidSettings(t *testing.T) {
	st := store.NewMem(0, 1)
	lim := NewLimiter("x", 0)
	if lim.Capacity() != DefaultMaxKeys {
		t.Fatalf("default capacity %d", lim.Capacity())
	}
	bad := Settings{Requests: 0, Per: time.Second}
	if _, err := lim.Allow(st, "k", bad, t0, 1); err == nil || !strings.HasPrefix(err.Error(), "ratelimit: ") {
		t.Fatalf("Allow: %v", err)
	}
	if err := lim.Refund(st, "k", bad, t0, 1); err == nil {
		t.Fatal("Refund accepted invalid settings")
	}
	if _, err := lim.Peek(st, "k", bad, t0); err == nil {
		t.Fatal("Peek accepted invalid settings")
	}
	if st.Len() != 0 {
		t.Fatal("invalid settings wrote")
	}
}

// stateOf is a key's state as the limiter stores it.
func stateOf(t *testing.T, st store.Store, l *Limiter, key string) []byte {
	t.Helper()
	b, err := l.table.Get(st, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAllowAllRejectionByThird: per-user, per-endpoint and a global limit;
// once the global limit is exhausted, requests rejected by it leave the
// states of the first two limits exactly as they were (byte for byte), for
// every algorithm in the first two places, whether their key existed or not.
func TestAllowAllRejectionByThird(t *testing.T) {
	for a1 := TokenBucket; a1 < numAlgorithms; a1++ {
		a2 := (a1 + 1) % numAlgorithms
		st := store.NewMem(0, 1)
		user := NewLimiter("p/rl/user", 100)
		path := NewLimiter("p/rl/path", 100)
		global := NewLimiter("p/rl/global", 1)
		s1, s2 := concurrentSettings(a1), concurrentSettings(a2)
		sg := Settings{Algorithm: FixedWindow, Requests: 3, Per: time.Minute}
		checks := func(u string) []Check {
			return []Check{{user, u, s1}, {path, "/orders", s2}, {global, "", sg}}
		}
		now := t0
		for i := range 3 {
			res, err := AllowAll(st, now, 1, checks(fmt.Sprintf("u%d", i)))
			if err != nil || !res.Allowed {
				t.Fatalf("%v/%v: request %d: %+v %v", a1, a2, i, res, err)
			}
		}
		for _, u := range []string{"u0", "fresh"} {
			before1, before2 := stateOf(t, st, user, u), stateOf(t, st, path, "/orders")
			peek1, _ := user.Peek(st, u, s1, now)
			for range 50 {
				res, err := AllowAll(st, now, 1, checks(u))
				if err != nil || res.Allowed || res.Deciding != 2 {
					t.Fatalf("%v/%v: %+v %v", a1, a2, res, err)
				}
				if d := res.Decisions[2]; d.Allowed || d.RetryAfter <= 0 || d.Limit != 3 || d.Remaining != 0 {
					t.Fatalf("%v/%v: global decision %+v", a1, a2, d)
				}
				if !res.Decisions[0].Allowed || !res.Decisions[1].Allowed {
					t.Fatalf("%v/%v: the first two should have admitted before the undo: %+v", a1, a2, res.Decisions)
				}
			}
			after1, after2 := stateOf(t, st, user, u), stateOf(t, st, path, "/orders")
			if !bytes.Equal(before1, after1) || !bytes.Equal(before2, after2) {
				t.Fatalf("%v/%v key %s: states changed:\n user %x -> %x\n path %x -> %x", a1, a2, u, before1, after1, before2, after2)
			}
			if peek, _ := user.Peek(st, u, s1, now); peek != peek1 {
				t.Fatalf("%v: %s sees %+v after, %+v before", a1, u, peek, peek1)
			}
		}
	}
}

// TestAllowAllHeaders: when allowed, Deciding is the limit with the fewest
// remaining (ties: the longest reset), and Delay the longest leaky delay.
func TestAllowAllHeaders(t *testing.T) {
	st := store.NewMem(0, 1)
	a, b, c, d := NewLimiter("a", 10), NewLimiter("b", 10), NewLimiter("c", 10), NewLimiter("d", 10)
	sa := Settings{Requests: 6, Per: time.Second}                                                           // 5 left
	sb := Settings{Algorithm: SlidingWindow, Requests: 3, Per: time.Second}                                 // 2 left
	sc := Settings{Algorithm: FixedWindow, Requests: 8, Per: time.Second}                                   // 7 left
	sd := Settings{Algorithm: LeakyBucket, Requests: 10, Per: time.Second, Burst: 1, MaxDelay: time.Second} // 0 left after the first
	res, err := AllowAll(st, t0, 1, []Check{{a, "k", sa}, {b, "k", sb}, {c, "k", sc}})
	if err != nil || !res.Allowed || res.Deciding != 1 || res.Decisions[1].Remaining != 2 || res.Delay != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	// Tie on Remaining 1: the sliding window (reset 1.1s) wins over the
	// token bucket (reset T = 166.7ms).
	sa2 := Settings{Requests: 6, Per: time.Second, Burst: 2}
	res, _ = AllowAll(st, t0, 1, []Check{{NewLimiter("a2", 10), "k", sa2}, {b, "k", sb}})
	if !res.Allowed || res.Deciding != 1 || res.Decisions[0].Remaining != 1 || res.Decisions[1].Remaining != 1 {
		t.Fatalf("tie: %+v", res)
	}
	// Leaky delays: the second request of a burst of 1 waits 100ms.
	_, _ = AllowAll(st, t0, 1, []Check{{d, "k", sd}})
	res, _ = AllowAll(st, t0, 1, []Check{{c, "k", sc}, {d, "k", sd}})
	if !res.Allowed || res.Delay != 100*ms || res.Deciding != 1 {
		t.Fatalf("delay: %+v", res)
	}
	if res, err := AllowAll(st, t0, 1, nil); err != nil || !res.Allowed || res.Deciding != -1 {
		t.Fatalf("no checks: %+v %v", res, err)
	}
}

// TestUndoAfterConcurrentWrite: when another worker wrote the key between
// an admission and its undo, the undo refunds instead of restoring: the
// other worker's admission is kept.
func TestUndoAfterConcurrentWrite(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		st := store.NewMem(0, 1)
		l := NewLimiter("u", 10)
		s := concurrentSettings(alg)
		_, _ = l.Allow(st, "k", s, t0, 1)
		want, _ := l.Allow(NewMemCopy(st), "k", s, t0, 1) // what one more admission leaves
		d, prev, wrote, err := l.allow(st, "k", s, t0, 1, true)
		if err != nil || !d.Allowed || wrote == nil {
			t.Fatal(d, err)
		}
		if _, err := l.Allow(st, "k", s, t0, 1); err != nil { // another worker
			t.Fatal(err)
		}
		if err := l.undo(st, "k", s, t0, 1, prev, wrote); err != nil {
			t.Fatal(err)
		}
		got, _ := l.Peek(st, "k", s, t0)
		if got.Remaining != want.Remaining || got.Reset != want.Reset {
			t.Fatalf("%v: after undo %+v, want the state of one more admission %+v", alg, got, want)
		}
	}
}

// NewMemCopy copies a Mem (to try a decision without touching the original).
func NewMemCopy(m *store.Mem) *store.Mem {
	c := store.NewMem(0, 1)
	for _, k := range m.Keys() {
		v, _, _ := m.Get(k)
		_ = c.Set(k, v, 0)
	}
	return c
}

// failing fails every Get of keys under a prefix.
type failing struct {
	*store.Mem
	prefix string
}

var errDown = errors.New("shared data down")

func (f failing) Get(key string) ([]byte, uint32, error) {
	if strings.HasPrefix(key, f.prefix) {
		return nil, 0, errDown
	}
	return f.Mem.Get(key)
}

// TestAllowAllStoreError: a store failure on the second limit returns the
// error, not allowed, and the first limit's admission is undone.
func TestAllowAllStoreError(t *testing.T) {
	st := failing{store.NewMem(0, 1), "bad/"}
	good, bad := NewLimiter("good", 10), NewLimiter("bad", 10)
	s := Settings{Requests: 5, Per: time.Second}
	_, _ = good.Allow(st, "k", s, t0, 2)
	before := stateOf(t, st, good, "k")
	res, err := AllowAll(st, t0, 1, []Check{{good, "k", s}, {bad, "k", s}})
	if !errors.Is(err, errDown) || res.Allowed || res.Deciding != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if after := stateOf(t, st, good, "k"); !bytes.Equal(before, after) {
		t.Fatalf("first limit not undone: %x -> %x", before, after)
	}
	if _, err := AllowAll(st, t0, 1, []Check{{good, "k", Settings{}}}); err == nil {
		t.Fatal("invalid settings accepted")
	}
}

// TestRecoveryRefills: for every algorithm, a state exhausted at t0 (and
// a leaky bucket's queue full) is back at full capacity at t0 + Recovery.
func TestRecoveryRefills(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		s, _ := concurrentSettings(alg).Normalize()
		full := s.Burst
		if alg == FixedWindow || alg == SlidingWindow {
			full = s.Requests
		}
		st := store.NewMem(0, 1)
		lim := NewLimiter("r", 8)
		for i := 0; i < 4*int(full); i++ {
			_, _ = lim.Allow(st, "k", s, t0.Add(time.Duration(i)*time.Millisecond), 1)
		}
		last := t0.Add(time.Duration(4*full) * time.Millisecond)
		if d, _ := lim.Peek(st, "k", s, last.Add(s.Recovery())); d.Remaining != full {
			t.Errorf("%v: %+v at last write + Recovery %v, want %d remaining", alg, d, s.Recovery(), full)
		}
	}
}
