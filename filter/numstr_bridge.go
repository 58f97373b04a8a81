//go:build wasip1 && breakwater_bridge

package filter

import "unsafe"

// numString is the string of b's bytes. In the .wasm build it is a view of
// b (no copy): b is a stream block's (streamBufs.rlw), written once per
// admission and reused only after the stream ended, and every header value
// the filter hands the host is copied by the host call that receives it
// (the header map's serialization), so nothing reads the view after b is
// written again. Natively (sdkext_other.go's SDK, whose test host keeps the
// strings it is given) it is a copy.
func numString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// numAt is numString of the n bytes at p (a stream block's).
func numAt(p unsafe.Pointer, n uintptr) string { return unsafe.String((*byte)(p), n) }
