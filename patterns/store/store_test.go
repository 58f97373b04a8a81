package store

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestMemCASSemantics(t *testing.T) {
	s := NewMem(0, 1)
	if _, _, err := s.Get("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent key: got %v", err)
	}
	if err := s.Set("k", []byte("a"), 7); err != nil {
		t.Fatalf("set of absent key with cas must succeed: %v", err)
	}
	v, cas, err := s.Get("k")
	if err != nil || string(v) != "a" || cas == 0 {
		t.Fatalf("get: %q %d %v", v, cas, err)
	}
	if err := s.Set("k", []byte("b"), cas+1); !errors.Is(err, ErrCASMismatch) {
		t.Fatalf("stale cas: got %v", err)
	}
	if err := s.Set("k", []byte("b"), cas); err != nil {
		t.Fatalf("matching cas: %v", err)
	}
	if err := s.Set("k", []byte("c"), 0); err != nil {
		t.Fatalf("cas 0 is unconditional: %v", err)
	}
	if v, _, _ := s.Get("k"); string(v) != "c" {
		t.Fatalf("got %q", v)
	}
}

// counter increments a decimal counter at key through Update.
func counter(s Store, key string) error {
	return Update(s, key, func(cur []byte) ([]byte, bool, error) {
		var n int
		if cur != nil {
			fmt.Sscan(string(cur), &n)
		}
		return []byte(fmt.Sprint(n + 1)), true, nil
	})
}

func TestUpdateConcurrentNoLostUpdate(t *testing.T) {
	s := NewMem(0.3, 42)
	if err := counter(s, "c"); err != nil { // create before the race: see doc.go on creation
		t.Fatal(err)
	}
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	contended := 0
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := counter(s, "c"); err != nil {
					if !errors.Is(err, ErrContended) {
						t.Error(err)
						return
					}
					mu.Lock()
					contended++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	v, _, _ := s.Get("c")
	var n int
	fmt.Sscan(string(v), &n)
	if want := 1 + workers*each - contended; n != want {
		t.Fatalf("counter = %d, want %d (contended %d)", n, want, contended)
	}
	if s.Conflicts == 0 {
		t.Fatal("no conflicts were injected")
	}
}

func TestUpdateGivesUpAfterMaxAttempts(t *testing.T) {
	s := NewMem(0.999999, 3)
	_ = s.Set("k", []byte("x"), 0)
	calls := 0
	err := Update(s, "k", func(cur []byte) ([]byte, bool, error) { calls++; return cur, true, nil })
	if !errors.Is(err, ErrContended) || calls != MaxAttempts {
		t.Fatalf("err %v after %d calls", err, calls)
	}
}

func TestUpdateNoWriteAndError(t *testing.T) {
	s := NewMem(0, 1)
	if err := Update(s, "k", func([]byte) ([]byte, bool, error) { return []byte("x"), false, nil }); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 0 {
		t.Fatal("write=false wrote")
	}
	boom := errors.New("boom")
	if err := Update(s, "k", func([]byte) ([]byte, bool, error) { return []byte("x"), true, boom }); err != boom {
		t.Fatalf("got %v", err)
	}
	if s.Len() != 0 {
		t.Fatal("error wrote")
	}
}

func TestTableBoundedAndLRU(t *testing.T) {
	s := NewMem(0, 1)
	tb := NewTable("ns/rl", 100)
	if tb.Capacity() != 100 || tb.Sets() != 25 {
		t.Fatalf("capacity %d sets %d", tb.Capacity(), tb.Sets())
	}
	for i := 0; i < 100000; i++ {
		k := fmt.Sprintf("user-%d", i)
		if err := tb.Update(s, k, int64(i), func(cur []byte) ([]byte, bool, error) {
			if cur != nil {
				t.Fatalf("fresh key %s found state %q", k, cur)
			}
			return []byte(k), true, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() > tb.Sets() {
		t.Fatalf("store holds %d keys, bound %d", s.Len(), tb.Sets())
	}
	held := 0
	for _, k := range s.Keys() {
		if !strings.HasPrefix(k, "ns/rl/") {
			t.Fatalf("key %q outside prefix", k)
		}
		v, _, _ := s.Get(k)
		es, err := decodeSet(v)
		if err != nil || len(es) > DefaultWays {
			t.Fatalf("set %q: %d entries, %v", k, len(es), err)
		}
		held += len(es)
	}
	if held > tb.Capacity() {
		t.Fatalf("%d entries held, capacity %d", held, tb.Capacity())
	}
	// The most recent key of every set survives; a set's oldest is evicted first.
	last := "user-99999"
	if st, _ := tb.Get(s, last, 0); string(st) != last {
		t.Fatalf("most recent key lost: %q", st)
	}
}

func TestTableEvictsLeastRecentlyWritten(t *testing.T) {
	s := NewMem(0, 1)
	tb := NewTable("p", 4) // one set of four ways
	put := func(k string, now int64) {
		_ = tb.Update(s, k, now, func([]byte) ([]byte, bool, error) { return []byte(k), true, nil })
	}
	put("a", 1)
	put("b", 2)
	put("c", 3)
	put("d", 4)
	put("a", 5) // a is now the most recent
	put("e", 6) // evicts b
	for k, want := range map[string]string{"a": "a", "b": "", "c": "c", "d": "d", "e": "e"} {
		if st, _ := tb.Get(s, k, 0); string(st) != want {
			t.Errorf("%s: got %q want %q", k, st, want)
		}
	}
}

func TestTableLongKeysAndCorruptSet(t *testing.T) {
	s := NewMem(0, 1)
	tb := NewTable("p", 8)
	long1 := strings.Repeat("x", 300)
	long2 := strings.Repeat("x", 299) + "y"
	_ = tb.Update(s, long1, 1, func([]byte) ([]byte, bool, error) { return []byte("1"), true, nil })
	if st, _ := tb.Get(s, long2, 0); st != nil {
		t.Fatalf("long keys collided: %q", st)
	}
	if st, _ := tb.Get(s, long1, 0); string(st) != "1" {
		t.Fatalf("long key lost: %q", st)
	}
	_ = s.Set(tb.StoreKey("k"), []byte{200, 1, 2}, 0)
	err := tb.Update(s, "k", 2, func(cur []byte) ([]byte, bool, error) {
		if cur != nil {
			t.Fatalf("corrupt set gave state %q", cur)
		}
		return []byte("ok"), true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := tb.Get(s, "k", 0); string(st) != "ok" {
		t.Fatalf("got %q", st)
	}
}

func FuzzDecodeSet(f *testing.F) {
	f.Add(encodeSet(nil, []entry{{id: "a", last: 1, state: []byte("s")}}))
	f.Add([]byte{255, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := decodeSet(b)
		if err != nil {
			return
		}
		if got := encodeSet(nil, es); string(got) != string(b) {
			t.Fatalf("round trip changed bytes")
		}
	})
}

// TestUpdateConcurrentCreation: workers racing to create the same key lose
// no update (the creating write uses CreateCAS, never the unconditional 0).
func TestUpdateConcurrentCreation(t *testing.T) {
	for round := 0; round < 50; round++ {
		s := NewMem(0, uint64(round))
		const workers, each = 8, 50
		var wg sync.WaitGroup
		var ok atomic.Int64
		start := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < each; i++ {
					switch err := counter(s, "fresh"); {
					case err == nil:
						ok.Add(1)
					case !errors.Is(err, ErrContended):
						t.Error(err)
						return
					}
				}
			}()
		}
		close(start)
		wg.Wait()
		v, _, _ := s.Get("fresh")
		var n int
		fmt.Sscan(string(v), &n)
		if int64(n) != ok.Load() {
			t.Fatalf("round %d: counter %d, want %d successful updates: a creation overwrote updates", round, n, ok.Load())
		}
	}
}

// TestCreateCASSemantics pins the Envoy behaviour Update relies on.
func TestCreateCASSemantics(t *testing.T) {
	s := NewMem(0, 1)
	if err := s.Set("k", []byte("a"), CreateCAS); err != nil {
		t.Fatalf("absent key with CreateCAS: %v", err)
	}
	if err := s.Set("k", []byte("b"), CreateCAS); !errors.Is(err, ErrCASMismatch) {
		t.Fatalf("existing key with CreateCAS: %v, want a mismatch", err)
	}
}

// TestStoreKeyNames: the set keys are "<prefix>/<set>" whether set 0's name
// is the one built at construction or not.
func TestStoreKeyNames(t *testing.T) {
	one := NewTable("p/rl/x", 1)
	if got := one.StoreKey(""); got != "p/rl/x/0" {
		t.Fatalf("one set, empty key: %q", got)
	}
	if got := one.StoreKey("user-1"); got != "p/rl/x/0" {
		t.Fatalf("one set: %q", got)
	}
	many := NewTable("p/rl/y", 4000)
	seen := map[string]bool{}
	for i := range 5000 {
		k := many.StoreKey(strconv.Itoa(i))
		if !strings.HasPrefix(k, "p/rl/y/") {
			t.Fatalf("key %q", k)
		}
		n, err := strconv.Atoi(k[len("p/rl/y/"):])
		if err != nil || n < 0 || n >= many.Sets() {
			t.Fatalf("set of %q out of range", k)
		}
		seen[k] = true
	}
	if !seen["p/rl/y/0"] && many.StoreKey("") != "p/rl/y/0" {
		t.Fatal("set 0 never named")
	}
	if got := (Table{}).StoreKey(""); got != "/0" {
		t.Fatalf("zero table: %q", got)
	}
}

// TestStoreKeyNameCache: the cached set names of a keyed table are the
// names built anew (prefix/set), on first and later use, for tables below
// and above MaxNamedSets sets, through copies of the table (WithHashKey,
// WithIdle share the cache), and from several goroutines at once.
func TestStoreKeyNameCache(t *testing.T) {
	for _, maxKeys := range []int{8, 4000, 4 * (MaxNamedSets + 100)} {
		base := NewTable("p/rl/c", maxKeys)
		tables := []Table{base, base.WithHashKey(HashKey{1, 2}), base.WithIdle(nil)}
		want := func(tab Table, key string) string {
			set := uint64(0)
			if key != "" && tab.sets > 1 {
				set = tab.key.Sum(key) % uint64(tab.sets)
			}
			return "p/rl/c/" + strconv.FormatUint(set, 10)
		}
		var wg sync.WaitGroup
		errs := make(chan string, 4)
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for round := range 2 {
					for i := range 3 * maxKeys / 2 {
						tab := tables[(i+g)%len(tables)]
						k := strconv.Itoa(i)
						if got, w := tab.StoreKey(k), want(tab, k); got != w {
							select {
							case errs <- fmt.Sprintf("max_keys %d round %d key %q: %q, want %q", maxKeys, round, k, got, w):
							default:
							}
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		if maxKeys > 4 && len(base.names) != min(base.Sets(), MaxNamedSets) {
			t.Fatalf("max_keys %d: %d cached names for %d sets", maxKeys, len(base.names), base.Sets())
		}
	}
}

// everyOther is an Idler under which entries last written at an even
// instant are idle.
type everyOther struct{}

func (everyOther) Idle(_ []byte, last, _ int64) bool { return last%2 == 0 }

// TestUpdateAppendAsUpdateWhere: UpdateAppend writes exactly what
// UpdateWhere writes for the same next states (new keys, replacements,
// evictions, the overflow state, skipped writes, states that outgrow the
// room given), says the same about overflowing, and the bytes its fn
// appended are the state Get then returns.
func TestUpdateAppendAsUpdateWhere(t *testing.T) {
	nextOf := func(key string, cur []byte, i int) ([]byte, bool) {
		if i%7 == 3 {
			return nil, false // no write
		}
		n := (len(key)*5 + len(cur) + i) % 90
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i + j)
		}
		return b, true
	}
	for _, maxKeys := range []int{1, 8, 64} {
		a, b := NewMem(0, 1), NewMem(0, 1)
		tab := NewTable("p/ua", maxKeys).WithHashKey(HashKey{3, 4}).WithIdle(everyOther{})
		overflows := 0
		for i := range 4000 {
			key := "k" + strconv.Itoa((i*7919)%37)
			now := int64(i)
			ovA, errA := tab.UpdateWhere(a, key, now, func(cur []byte) ([]byte, bool, error) {
				nx, w := nextOf(key, cur, i)
				return nx, w, nil
			})
			var appended []byte
			ovB, errB := tab.UpdateAppend(b, key, now, i%3*8, func(dst, cur []byte) ([]byte, bool, error) {
				nx, w := nextOf(key, cur, i)
				if !w {
					return nil, false, nil
				}
				out := append(dst, nx...)
				appended = out[len(dst):]
				return out, true, nil
			})
			if errA != nil || errB != nil || ovA != ovB {
				t.Fatalf("max_keys %d #%d: %v %v overflowed %v %v", maxKeys, i, errA, errB, ovA, ovB)
			}
			if ovB {
				overflows++
			}
			if appended != nil {
				got, err := tab.Get(b, key, now)
				if err != nil || !bytes.Equal(got, appended) {
					t.Fatalf("max_keys %d #%d: Get %x, appended %x (%v)", maxKeys, i, got, appended, err)
				}
			}
		}
		if maxKeys < 37 && overflows == 0 { // 37 keys: fewer entries must overflow
			t.Fatalf("max_keys %d: the overflow state was never used", maxKeys)
		}
		if a.Len() != b.Len() {
			t.Fatalf("max_keys %d: %d vs %d keys", maxKeys, a.Len(), b.Len())
		}
		for _, k := range a.Keys() {
			va, _, _ := a.Get(k)
			vb, _, _ := b.Get(k)
			if !bytes.Equal(va, vb) {
				t.Fatalf("max_keys %d: %q differs", maxKeys, k)
			}
		}
	}
}
