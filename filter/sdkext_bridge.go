//go:build wasip1 && breakwater_bridge

package filter

import "github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

// The .wasm build's SDK copy reads header maps into a caller's slice and
// keeps their encoding, which a write of the same map, edited, copies, and
// has metric calls that return their error (filter/sdkbridge/ext.go); see
// sdkext_other.go.

func getRequestHeaders(dst [][2]string) ([][2]string, []byte, error) {
	return proxywasm.GetHttpRequestHeadersWire(dst)
}

func getResponseHeaders(dst [][2]string) ([][2]string, []byte, error) {
	return proxywasm.GetHttpResponseHeadersWire(dst)
}

func replaceRequestHeadersWire(wire []byte, skip uint64, extra [][2]string) error {
	return proxywasm.ReplaceHttpRequestHeadersWire(wire, skip, extra)
}

func replaceResponseHeadersWire(wire []byte, skip uint64, extra [][2]string) error {
	return proxywasm.ReplaceHttpResponseHeadersWire(wire, skip, extra)
}

func incMetric(id uint32, n int64) { _ = proxywasm.IncrementMetric(id, n) }

func recordMetric(id uint32, v uint64) { _ = proxywasm.RecordMetric(id, v) }
