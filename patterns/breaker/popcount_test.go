package breaker

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// TestPopcountAsByByte: popcount counts the set bits of any slice as a
// byte-by-byte count does, for every length up to 40 (whole 8-byte chunks,
// a tail read with the previous chunk's bytes, slices shorter than 8).
func TestPopcountAsByByte(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	for n := 0; n <= 40; n++ {
		for trial := 0; trial < 20; trial++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rnd.Uint32())
			}
			want := 0
			for _, c := range b {
				want += bits.OnesCount8(c)
			}
			if got := popcount(b); got != want {
				t.Fatalf("len %d: popcount %d, want %d (%x)", n, got, want, b)
			}
		}
	}
}
