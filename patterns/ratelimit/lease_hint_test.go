package ratelimit

import (
	"strings"
	"testing"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestLeaseFindHints: find answers the same with its hints (by the address
// of a key string's bytes) as by hash: a string given again is found from
// its hint; a copy of it (another address) by hash; a hint naming a slot
// that holds another key, an ended lease or no slot at all is ignored.
func TestLeaseFindHints(t *testing.T) {
	lim := NewLimiter("h", 64)
	lim.SetLeases(64)
	lz := lim.Leases()
	s := Settings{Requests: 100_000, Per: time.Second}
	st := store.NewMem(0, 3)
	keys := make([]string, 40)
	for i := range keys {
		// A string of its own; its first request is seen, the next leased.
		keys[i] = strings.Repeat("k", i+1)
		for range 2 {
			if res, err := AllowAll(st, t0, 1, []Check{{lim, keys[i], s}}); err != nil || !res.Allowed {
				t.Fatalf("%s: %+v %v", keys[i], res, err)
			}
		}
	}
	// byHash is find's answer from the hash alone.
	byHash := func(key string) int {
		h := lz.hash(key)
		b := int(h%lz.sets) * leaseWays
		for i := b; i < b+leaseWays; i++ {
			if e := &lz.e[i]; e.on && e.tag == uint32(h>>32) && e.key == key {
				return i
			}
		}
		return -1
	}
	check := func(what, key string) {
		t.Helper()
		want := byHash(key)
		lz.lastKey = "" // not the last answer's shortcut
		i, b := lz.find(key)
		if i != want || want >= 0 && b != want/leaseWays*leaseWays {
			t.Fatalf("%s %q: find %d (set %d), by hash %d", what, key, i, b, want)
		}
	}
	for _, k := range keys {
		check("first", k)
		if lz.hints[hintOf(k)] == 0 {
			t.Fatalf("%q: no hint recorded", k)
		}
		check("again", k)
		check("copy", strings.Clone(k))
	}
	for _, k := range keys {
		for _, h := range []int32{0, -5, int32(len(lz.e)) + 1, 1 << 30, int32(byHash(keys[0]) + 1)} {
			lz.hints[hintOf(k)] = h // stale, out of range, another key's
			check("stale hint", k)
		}
	}
	// An ended lease's slot is not found through its hint.
	k := keys[3]
	check("before drop", k)
	i := byHash(k)
	lz.drop(i)
	lz.hints[hintOf(k)] = int32(i + 1)
	check("dropped", k)
	if got, _ := lz.find(k); got != -1 {
		t.Fatalf("dropped lease found at %d", got)
	}
}
