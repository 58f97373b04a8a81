package breaker

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCountAddNAsOneByOne: a count window's addN of k successes writes the
// same bytes as k calls of add, for every window size up to 200 (byte runs,
// partial bytes, wrap-around), random starting windows and every k < N.
func TestCountAddNAsOneByOne(t *testing.T) {
	rnd := rand.New(rand.NewPCG(21, 22))
	for n := 1; n <= 200; n++ {
		sh := shapeOf(&Settings{WindowSize: n})
		for trial := 0; trial < 4; trial++ {
			base := make([]byte, sh.size)
			sh.reset(base, 0)
			for range rnd.IntN(3 * n) {
				sh.add(base, 0, rnd.IntN(2) == 0, rnd.IntN(3) == 0)
			}
			for k := 0; k < n+3; k++ {
				one, batch := bytes.Clone(base), bytes.Clone(base)
				for range k {
					sh.add(one, 0, false, false)
				}
				sh.addN(batch, 0, uint32(k))
				if !bytes.Equal(one, batch) {
					t.Fatalf("N=%d k=%d: addN %x, one by one %x (from %x)", n, k, batch, one, base)
				}
			}
		}
	}
}
