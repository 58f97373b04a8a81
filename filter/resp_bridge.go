//go:build wasip1 && breakwater_bridge

package filter

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// getHeadersRaw returns the host's encoding of the request headers
// (response: the response's), undecoded (respwire.go).
func getHeadersRaw(response bool) ([]byte, error) { return proxywasm.GetHeadersRaw(response) }

// setHeadersRaw replaces the request headers (response: the response's)
// with the map b encodes.
func setHeadersRaw(response bool, b []byte) error { return proxywasm.ReplaceHeadersRaw(response, b) }

// statusAt and attemptAt say whether the bytes at p are ":status" and
// "x-envoy-attempt-count" (statusWords, attemptWords).
func statusAt(p unsafe.Pointer) bool  { return statusWords(p) }
func attemptAt(p unsafe.Pointer) bool { return attemptWords(p) }
