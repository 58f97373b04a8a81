package ratelimit

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestPrecompileSameDecisions: for every algorithm, a limiter with its
// settings precompiled and one without decide the same random sequence of
// Allow, AllowAll (two limits, the second sometimes rejecting: undo) and
// Refund, under the precompiled settings and under others (a tier that was
// not precompiled), with the same decisions and byte-identical stores.
func TestPrecompileSameDecisions(t *testing.T) {
	for alg := TokenBucket; alg < numAlgorithms; alg++ {
		s := concurrentSettings(alg)
		other := s
		other.Requests = 7
		if alg == FixedWindow || alg == SlidingWindow {
			other.Burst = 0
		}
		tight := Settings{Algorithm: FixedWindow, Requests: 3, Per: time.Second}
		stA, stB := store.NewMem(0, 1), store.NewMem(0, 1)
		a, b := NewLimiter("p/a", 16), NewLimiter("p/a", 16)
		a2, b2 := NewLimiter("p/b", 16), NewLimiter("p/b", 16)
		a.Precompile(s, Settings{}) // the invalid one is skipped
		a2.Precompile(tight)
		if len(a.compiled) != 1 || len(a2.compiled) != 1 {
			t.Fatalf("%v: precompiled %d %d", alg, len(a.compiled), len(a2.compiled))
		}
		r := rand.New(rand.NewPCG(uint64(alg), 7))
		now := t0
		for i := range 3000 {
			now = now.Add(time.Duration(r.IntN(40)) * ms)
			key := string(rune('a' + r.IntN(5)))
			set := s
			if r.IntN(4) == 0 {
				set = other
			}
			switch r.IntN(3) {
			case 0:
				n := int64(1 + r.IntN(2))
				da, ea := a.Allow(stA, key, set, now, n)
				db, eb := b.Allow(stB, key, set, now, n)
				if da != db || (ea == nil) != (eb == nil) {
					t.Fatalf("%v #%d Allow: %+v %v vs %+v %v", alg, i, da, ea, db, eb)
				}
			case 1:
				ra, ea := AllowAll(stA, now, 1, []Check{{a, key, set}, {a2, key, tight}})
				rb, eb := AllowAll(stB, now, 1, []Check{{b, key, set}, {b2, key, tight}})
				if !reflect.DeepEqual(ra, rb) || (ea == nil) != (eb == nil) {
					t.Fatalf("%v #%d AllowAll: %+v %v vs %+v %v", alg, i, ra, ea, rb, eb)
				}
			case 2:
				ea := a.Refund(stA, key, set, now, 1)
				eb := b.Refund(stB, key, set, now, 1)
				if (ea == nil) != (eb == nil) {
					t.Fatalf("%v #%d Refund: %v vs %v", alg, i, ea, eb)
				}
			}
		}
		if stA.Len() != stB.Len() {
			t.Fatalf("%v: %d vs %d keys", alg, stA.Len(), stB.Len())
		}
		for _, k := range stA.Keys() {
			va, _, _ := stA.Get(k)
			vb, _, _ := stB.Get(k)
			if !bytes.Equal(va, vb) {
				t.Fatalf("%v: key %q differs", alg, k)
			}
		}
	}
}

// TestPrecompileBound: at most MaxPrecompiled settings are kept, equal
// settings once; settings beyond the bound are still decided (compiled per
// call), and invalid settings still return the Normalize error.
func TestPrecompileBound(t *testing.T) {
	l := NewLimiter("p", 4)
	var ss []Settings
	for i := range MaxPrecompiled + 3 {
		s := Settings{Requests: int64(i + 1), Per: time.Second}
		ss = append(ss, s, s)
	}
	l.Precompile(ss...)
	if len(l.compiled) != MaxPrecompiled {
		t.Fatalf("kept %d, want %d", len(l.compiled), MaxPrecompiled)
	}
	st := store.NewMem(0, 1)
	last := ss[len(ss)-1]
	if _, ok := l.lookup(last); ok {
		t.Fatal("settings beyond the bound were kept")
	}
	if d, err := l.Allow(st, "k", last, t0, 1); err != nil || !d.Allowed || d.Limit != last.Requests {
		t.Fatalf("beyond the bound: %+v %v", d, err)
	}
	bad := Settings{Requests: 0, Per: time.Second}
	l.Precompile(bad)
	if _, err := l.Allow(st, "k", bad, t0, 1); err == nil {
		t.Fatal("invalid settings accepted")
	}
}
