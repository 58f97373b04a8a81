package filter

import (
	"strings"
	"testing"
)

// TestEqString: eqString is ==, for every length around its word steps
// (0 to 40 bytes), equal strings at other addresses and strings that differ
// in any one byte.
func TestEqString(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("abcdefghij", 5)[:n]
		b := strings.Clone(a)
		if !eqString(a, b) || !eqString(a, a) {
			t.Fatalf("%q: not equal to itself", a)
		}
		for i := 0; i < n; i++ {
			c := []byte(a)
			c[i] ^= 0x20
			if eqString(a, string(c)) {
				t.Fatalf("%q == %q", a, c)
			}
		}
		if n > 0 && (eqString(a, a[1:]) || eqString(a[1:], a)) {
			t.Fatalf("%q: equal to a shorter string", a)
		}
	}
}
