//go:build !(wasip1 && breakwater_bridge)

package filter

import "unsafe"

// getHeadersRaw: natively there is no host encoding of a header map
// (errNoRaw); the response side then reads and writes header lists.
func getHeadersRaw(response bool) ([]byte, error) { return nil, errNoRaw }

// setHeadersRaw: natively never called (getHeadersRaw fails).
func setHeadersRaw(response bool, b []byte) error { return errNoRaw }

// statusAt and attemptAt say whether the bytes at p are ":status" and
// "x-envoy-attempt-count" (natively string comparisons: the .wasm build's
// compare unaligned words).
func statusAt(p unsafe.Pointer) bool { return unsafe.String((*byte)(p), len(":status")) == ":status" }

func attemptAt(p unsafe.Pointer) bool {
	return unsafe.String((*byte)(p), len("x-envoy-attempt-count")) == "x-envoy-attempt-count"
}
