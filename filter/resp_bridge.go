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

// eqAt says whether the len(name) bytes at p are name: eqWords (Go's
// wasm code compares strings byte by byte, in memeqbody).
func eqAt(p unsafe.Pointer, name string) bool { return eqWords(p, name) }
