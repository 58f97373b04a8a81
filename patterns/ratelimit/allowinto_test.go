package ratelimit

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestAllowAllInto: AllowAllInto with one reused Buffers decides as
// AllowAll (same Result, byte-identical stores, rollbacks included), its
// Decisions are the buffer's, and a rejection leaves the limits after the
// rejecting one zero, whatever an earlier call left in the buffer; a
// buffer too small grows, nil uses fresh buffers.
func TestAllowAllInto(t *testing.T) {
	loose := Settings{Requests: 100, Per: time.Second}
	tight := Settings{Algorithm: FixedWindow, Requests: 2, Per: time.Second}
	stA, stB := store.NewMem(0, 1), store.NewMem(0, 1)
	mk := func() []Check {
		return []Check{{NewLimiter("a", 4), "k", loose}, {NewLimiter("b", 4), "k", tight}, {NewLimiter("c", 4), "k", loose}}
	}
	ca, cb := mk(), mk()
	var buf Buffers
	rejected := 0
	for i := range 8 {
		now := t0.Add(time.Duration(i) * 300 * time.Millisecond)
		ra, ea := AllowAll(stA, now, 1, ca)
		rb, eb := AllowAllInto(&buf, stB, now, 1, cb)
		if ea != nil || eb != nil || !reflect.DeepEqual(ra, rb) {
			t.Fatalf("#%d: %+v %v vs %+v %v", i, ra, ea, rb, eb)
		}
		if &rb.Decisions[0] != &buf.decisions[0] {
			t.Fatalf("#%d: Decisions not in the buffer", i)
		}
		if !rb.Allowed {
			rejected++
			if rb.Deciding != 1 || rb.Decisions[2] != (Decision{}) {
				t.Fatalf("#%d: rejection %+v", i, rb)
			}
		}
	}
	if rejected == 0 {
		t.Fatal("no rejection exercised")
	}
	if stA.Len() != stB.Len() {
		t.Fatalf("%d vs %d keys", stA.Len(), stB.Len())
	}
	for _, k := range stA.Keys() {
		va, _, _ := stA.Get(k)
		vb, _, _ := stB.Get(k)
		if !bytes.Equal(va, vb) {
			t.Fatalf("key %q differs", k)
		}
	}
	small := Buffers{decisions: make([]Decision, 1)}
	if r, err := AllowAllInto(&small, stB, t0, 1, cb); err != nil || len(r.Decisions) != 3 || len(small.decisions) != 3 {
		t.Fatalf("small buffer: %+v %v", r, err)
	}
	if r, err := AllowAllInto(nil, stB, t0, 1, cb); err != nil || len(r.Decisions) != 3 {
		t.Fatalf("no buffer: %+v %v", r, err)
	}
}
