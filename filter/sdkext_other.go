//go:build !(wasip1 && breakwater_bridge)

package filter

import (
	"errors"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// getHeaders reads the request headers (response: the response's). In the
// .wasm build (sdkext_bridge.go) into dst's array when it has room, with the
// host's encoding of the map (wire), which replaceHeadersWire writes back
// with headers appended. Natively (the SDK as published, under proxytest) into a new
// slice, dst unused, and no wire: the callers then write lists.
func getHeaders(response bool, dst [][2]string) (hs [][2]string, wire []byte, err error) {
	_ = dst
	if response {
		hs, err = proxywasm.GetHttpResponseHeaders()
	} else {
		hs, err = proxywasm.GetHttpRequestHeaders()
	}
	return hs, nil, err
}

// errNoWire: natively there is no wire to write (getHeaders).
var errNoWire = errors.New("breakwater: no header map encoding in this build")

// replaceHeadersWire sets the request headers (response: the response's) to
// those of wire, then extra.
func replaceHeadersWire(response bool, wire []byte, extra [][2]string) error {
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

// httpContext.deleted runs only in the .wasm build (the bridge's hook at
// proxy_on_delete); proxytest keeps no such hook.
var _ = (*httpContext).deleted
