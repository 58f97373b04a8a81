//go:build !(wasip1 && breakwater_bridge)

package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// getRequestHeaders reads the request headers, into dst's array when it
// has room in the .wasm build (sdkext_bridge.go); natively (the SDK as
// published, under proxytest) into a new slice, dst unused.
func getRequestHeaders(dst [][2]string) ([][2]string, error) {
	_ = dst
	return proxywasm.GetHttpRequestHeaders()
}

// getResponseHeaders is getRequestHeaders for the response headers.
func getResponseHeaders(dst [][2]string) ([][2]string, error) {
	_ = dst
	return proxywasm.GetHttpResponseHeaders()
}
