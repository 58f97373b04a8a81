//go:build wasip1 && breakwater_bridge

package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// The .wasm build's SDK copy has the header reads that decode into a
// caller's slice (filter/sdkbridge/headers.go); see sdkext_other.go.

func getRequestHeaders(dst [][2]string) ([][2]string, error) {
	return proxywasm.GetHttpRequestHeadersInto(dst)
}

func getResponseHeaders(dst [][2]string) ([][2]string, error) {
	return proxywasm.GetHttpResponseHeadersInto(dst)
}
