package filter

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/breakwater/breakwater/patterns/deadletter"
	"github.com/breakwater/breakwater/patterns/store"
)

// TestVMIdentitiesConcurrent: 16 simulated workers starting at once on one
// CAS store that injects conflicts each get a distinct VM identity, so their
// record ids never collide even when their random parts are equal (as under
// a deterministic WASI random_get).
func TestVMIdentitiesConcurrent(t *testing.T) {
	st := store.NewMem(0.2, 7)
	const workers, records = 16, 500
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vm, err := nextVMIdentity(st, "ns")
			if err != nil {
				t.Errorf("worker %d: %v", w, err)
				return
			}
			g := deadletter.NewIDs(rand.NewPCG(1, 1), vm)
			for range records {
				ids[w] = append(ids[w], g.Next())
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, l := range ids {
		for _, id := range l {
			if seen[id] {
				t.Fatalf("duplicate id %s", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != workers*records {
		t.Fatalf("%d ids, want %d", len(seen), workers*records)
	}
	if st.Conflicts == 0 {
		t.Fatal("no conflict exercised")
	}
}
