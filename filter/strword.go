package filter

import "unsafe"

// The rate limit's key cache compares header values 8 bytes at a
// step: the Go runtime's string comparison in the .wasm build compares one
// byte a step. Every load reads bytes of the string only (a short string's
// last word overlaps its first).

// load64 is the 8 bytes at p+i, little endian.
func load64(p unsafe.Pointer, i int) uint64 { return *(*uint64)(unsafe.Add(p, i)) }

// load32 is the 4 bytes at p+i, little endian.
func load32(p unsafe.Pointer, i int) uint32 { return *(*uint32)(unsafe.Add(p, i)) }

// eqString is a == b.
func eqString(a, b string) bool {
	n := len(a)
	if n != len(b) {
		return false
	}
	pa, pb := unsafe.Pointer(unsafe.StringData(a)), unsafe.Pointer(unsafe.StringData(b))
	if n < 4 || pa == pb {
		return a == b
	}
	if n < 8 {
		return load32(pa, 0) == load32(pb, 0) && load32(pa, n-4) == load32(pb, n-4)
	}
	for i := 0; i < n-8; i += 8 {
		if load64(pa, i) != load64(pb, i) {
			return false
		}
	}
	return load64(pa, n-8) == load64(pb, n-8)
}
