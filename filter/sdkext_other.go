//go:build !(wasip1 && breakwater_bridge)

package filter

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// getRequestHeaders reads the request headers. In the .wasm build
// (sdkext_bridge.go) into dst's array when it has room, with the host's
// encoding of the map (wire), which replaceRequestHeadersWire writes back
// edited. Natively (the SDK as published, under proxytest) into a new
// slice, dst unused, and no wire: the callers then write lists.
func getRequestHeaders(dst [][2]string) (hs [][2]string, wire []byte, err error) {
	_ = dst
	hs, err = proxywasm.GetHttpRequestHeaders()
	return hs, nil, err
}

// getResponseHeaders is getRequestHeaders for the response headers.
func getResponseHeaders(dst [][2]string) (hs [][2]string, wire []byte, err error) {
	_ = dst
	hs, err = proxywasm.GetHttpResponseHeaders()
	return hs, nil, err
}

// errNoWire: natively there is no wire to write (getRequestHeaders).
var errNoWire = errors.New("breakwater: no header map encoding in this build")

// replaceRequestHeadersWire sets the request headers to those of wire but
// the pairs whose bit is set in skip (bit i: pair i), then extra.
func replaceRequestHeadersWire(wire []byte, skip uint64, extra [][2]string) error {
	return errNoWire
}

// replaceResponseHeadersWire is replaceRequestHeadersWire for the response.
func replaceResponseHeadersWire(wire []byte, skip uint64, extra [][2]string) error {
	return errNoWire
}

// incMetric adds n to a counter or gauge. The SDK panics when the host call
// fails; natively the call runs under guard (the .wasm build's SDK copy
// returns the error instead).
func incMetric(id uint32, n int64) {
	guard(func() { proxywasm.MetricGauge(id).Add(n) })
}

// recordMetric sets a gauge or records a histogram value (see incMetric).
func recordMetric(id uint32, v uint64) {
	guard(func() { proxywasm.MetricHistogram(id).Record(v) })
}
