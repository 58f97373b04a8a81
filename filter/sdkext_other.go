//go:build !(wasip1 && breakwater_bridge)

package filter

import (
	"encoding/binary"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// getHeaders reads the request headers (response: the response's). In the
// .wasm build (sdkext_bridge.go) into dst's array when it has room, with the
// host's encoding of the map (wire), which replaceHeadersBlock writes back
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

// readRequestHeaders reads the request headers: natively the SDK's list and
// an encoding of it (proxy-wasm's header map, which requestInfo.load scans
// as it scans the host's in the .wasm build), not the host's (host false:
// there is no wire to write back).
func readRequestHeaders() (raw []byte, hs [][2]string, host bool) {
	hs, err := proxywasm.GetHttpRequestHeaders()
	if err != nil {
		return nil, nil, false
	}
	size := 4
	for _, kv := range hs {
		size += len(kv[0]) + len(kv[1]) + 10
	}
	raw = make([]byte, 4+8*len(hs), size)
	binary.LittleEndian.PutUint32(raw, uint32(len(hs)))
	for i, kv := range hs {
		binary.LittleEndian.PutUint32(raw[4+8*i:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(raw[8+8*i:], uint32(len(kv[1])))
		raw = append(append(append(append(raw, kv[0]...), 0), kv[1]...), 0)
	}
	if hs == nil {
		hs = [][2]string{}
	}
	return raw, hs, false
}

// decodeHeaders is never needed natively: load has the list.
func decodeHeaders(dst [][2]string, raw []byte) [][2]string { return nil }

// replaceHeadersBlock sets the request headers to those of wire, then the
// n pairs enc encodes (reqSet.enc); false when that could not be done
// (natively, always: there is no wire).
func replaceHeadersBlock(wire []byte, n int, enc []byte) bool {
	return false
}

// replaceRequestHeader sets a request header, replacing any value.
func replaceRequestHeader(name, value string) { _ = proxywasm.ReplaceHttpRequestHeader(name, value) }

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
