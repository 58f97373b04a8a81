//go:build !(wasip1 && breakwater_bridge)

package filter

import "unsafe"

// numString is the string of b's bytes: natively a copy (the test host
// keeps the strings it is given); a view in the .wasm build
// (numstr_bridge.go).
func numString(b []byte) string { return string(b) }

// numAt is numString of the n bytes at p (a stream block's).
func numAt(p unsafe.Pointer, n uintptr) string { return string(unsafe.Slice((*byte)(p), n)) }
