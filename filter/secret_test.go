package filter

import (
	"sync"
	"testing"

	"github.com/breakwater/breakwater/patterns/store"
)

// TestDeploymentHashKeyShared: 16 workers starting at once on one CAS store
// (with injected conflicts) all get the same secret, the one stored; a
// later start (a reload) reads it back; a value of another length is
// replaced.
func TestDeploymentHashKeyShared(t *testing.T) {
	for round := 0; round < 20; round++ {
		st := store.NewMem(0.3, uint64(round))
		keys := make([]store.HashKey, 16)
		var wg sync.WaitGroup
		for i := range keys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys[i] = deploymentHashKey(st, "ns")
			}()
		}
		wg.Wait()
		v, _, err := st.Get("ns/hash_key")
		stored, ok := store.HashKeyFromBytes(v)
		if err != nil || !ok {
			t.Fatalf("stored %x %v", v, err)
		}
		for i, k := range keys {
			if k != stored {
				t.Fatalf("round %d: worker %d got %x, stored %x", round, i, k, stored)
			}
		}
		if k := deploymentHashKey(st, "ns"); k != stored {
			t.Fatal("a reload drew a new secret")
		}
		if stored == (store.HashKey{}) {
			t.Fatal("zero secret")
		}
	}
	st := store.NewMem(0, 1)
	_ = st.Set("ns/hash_key", []byte("short"), 0)
	k := deploymentHashKey(st, "ns")
	if v, _, _ := st.Get("ns/hash_key"); len(v) != 16 || k == (store.HashKey{}) {
		t.Fatalf("a bad stored value was not replaced: %x", v)
	}
}
