//go:build !(wasip1 && breakwater_bridge)

package filter

import "unsafe"

// getHeadersRaw: natively there is no host encoding of a header map
// (errNoRaw); the response side then reads and writes header lists.
func getHeadersRaw(response bool) ([]byte, error) { return nil, errNoRaw }

// setHeadersRaw: natively never called (getHeadersRaw fails).
func setHeadersRaw(response bool, b []byte) error { return errNoRaw }

// eqAt says whether the len(name) bytes at p are name (natively a string
// comparison: the .wasm build's compares unaligned words).
func eqAt(p unsafe.Pointer, name string) bool {
	return unsafe.String((*byte)(p), len(name)) == name
}
