package sha256

import (
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestSum256MatchesCrypto: every length from 0 to 300 bytes (all padding
// cases: one and two final blocks) and random longer inputs give
// crypto/sha256's digest.
func TestSum256MatchesCrypto(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 5000)
	for i := range buf {
		buf[i] = byte(rnd.Uint32())
	}
	for n := 0; n <= 300; n++ {
		if Sum256(buf[:n]) != sha256.Sum256(buf[:n]) {
			t.Fatalf("length %d: digest differs", n)
		}
	}
	for range 200 {
		n := rnd.IntN(len(buf))
		if Sum256(buf[:n]) != sha256.Sum256(buf[:n]) {
			t.Fatalf("length %d: digest differs", n)
		}
	}
	if got := Sum256([]byte("abc")); got != sha256.Sum256([]byte("abc")) {
		t.Fatalf("abc: %x", got)
	}
}
