//go:build !race

package filter

import (
	"testing"
	"unsafe"
)

// TestEqWords checks the .wasm build's name comparison (unaligned word
// loads: not under -race, whose checkptr refuses them) at every offset,
// against a difference in every byte.
func TestEqWords(t *testing.T) {
	for _, name := range []string{":status", "x-envoy-attempt-count", "abcd", "abcdefgh", "abcdefghi"} {
		for off := 0; off < 8; off++ {
			buf := aligned(nil, off+len(name)+8)
			p := unsafe.Pointer(&buf[off])
			copy(buf[off:], name)
			if !eqWords(p, name) {
				t.Errorf("%q at %d: not equal", name, off)
			}
			for i := range len(name) {
				buf[off+i] ^= 0x20
				if eqWords(p, name) {
					t.Errorf("%q at %d, byte %d changed: equal", name, off, i)
				}
				buf[off+i] ^= 0x20
			}
		}
	}
}
