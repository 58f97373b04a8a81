package filter

import (
	"strings"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// TestLimitHeaderEntry: a header-keyed limit's cache entry holds the key
// built from the request (values repeated, changed, empty, missing,
// holding ':' and ','), a new entry's slot is -1 (no lease known), and a
// value too long for the cache has none (keyOf builds its key).
func TestLimitHeaderEntry(t *testing.T) {
	ps := []config.KeyPart{{Kind: config.KeyHeader, Arg: "x-user-id"}}
	if kindOf(ps) != keyHeader || kindOf(nil) != keyNone || kindOf([]config.KeyPart{{Kind: config.KeyPath}}) != keyPath ||
		kindOf(append(ps, config.KeyPart{Kind: config.KeyMethod})) != keyOther {
		t.Fatal("kindOf")
	}
	l := &limitRT{cfg: &config.Limit{Key: ps}}
	long := strings.Repeat("x", keyCacheLen+1)
	for i, u := range []string{"alice", "alice", "bob", "", "5:a,", "alice", "x,y:z", "bob", long, long} {
		r := &requestInfo{headers: [][2]string{{"x-user-id", u}}}
		if u == "" {
			r.headers = nil // missing: "0:,"
		}
		want := r.key(ps)
		if l.keys == nil {
			_ = l.keyOf(r) // the cache is made by the first key
		}
		e := l.headerEntry(r)
		switch {
		case len(u) > keyCacheLen:
			if e != nil {
				t.Fatalf("#%d: an entry for a value of %d bytes", i, len(u))
			}
			if got := l.keyOf(r); got != want {
				t.Fatalf("#%d: keyOf %q, want %q", i, got, want)
			}
		case e == nil || e.key != want:
			t.Fatalf("#%d %q: entry %+v, want key %q", i, u, e, want)
		}
		if e != nil && e.slot != -1 {
			t.Fatalf("#%d: slot %d without a lease", i, e.slot)
		}
	}
}
