//go:build !race

package filter

import (
	"testing"
	"unsafe"
)

// TestNameWords checks the .wasm build's name comparisons (unaligned word
// loads: not under -race, whose checkptr refuses them) at every offset,
// against a difference in every byte.
func TestNameWords(t *testing.T) {
	for _, c := range []struct {
		name string
		eq   func(unsafe.Pointer) bool
	}{{":status", statusWords}, {"x-envoy-attempt-count", attemptWords}} {
		for off := 0; off < 8; off++ {
			buf := aligned(nil, off+len(c.name))
			p := unsafe.Pointer(&buf[off])
			copy(buf[off:], c.name)
			if !c.eq(p) {
				t.Errorf("%q at %d: not equal", c.name, off)
			}
			for i := range len(c.name) {
				buf[off+i] ^= 0x20
				if c.eq(p) {
					t.Errorf("%q at %d, byte %d changed: equal", c.name, off, i)
				}
				buf[off+i] ^= 0x20
			}
		}
	}
}
