//go:build wasip1 && breakwater_bridge

// This file is added to the public package of the SDK's build copy
// (scripts/build-wasm.sh copies it to build/sdk/proxywasm/zz_breakwater_ext.go).
// The filter calls it through filter/sdkext_bridge.go:
//   - the SDK's header-map reads, undecoded (GetHeadersRaw) or decoding into a caller's slice
//     (internal.DeserializeMapWire, filter/sdkbridge/serde.go) instead of a
//     new one per call and keeping the host's encoding, and header-map
//     writes of a map read so with pairs appended (internal.SerializeWire);
//   - the metric updates, returning the host's error instead of panicking
//     (the SDK's MetricCounter.Increment ... panic), so the filter needs no
//     recover around each;
//   - SetHttpContextDeleted: a hook the bridge calls at proxy_on_delete of
//     each HTTP context.
package proxywasm

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// GetHeadersWire is GetHttpRequestHeaders (response: GetHttpResponseHeaders)
// decoding into dst's array when it has room for the headers, and returning
// the host's encoding of the map too (for ReplaceHeadersWire). The strings
// are views of the host's copy, as GetHttpRequestHeaders's are.
func GetHeadersWire(response bool, dst [][2]string) ([][2]string, []byte, error) {
	raw, err := GetHeadersRaw(response)
	if err != nil {
		return nil, nil, err
	}
	hs, wire := internal.DeserializeMapWire(dst, raw)
	if wire == nil {
		return nil, nil, types.ErrorStatusBadArgument // malformed
	}
	return hs, wire, nil
}

// GetHeadersRaw returns the host's encoding of the request headers
// (response: the response's), undecoded: a view of the host's copy, as
// GetHttpRequestHeaders's strings are. DecodeHeaders decodes it.
func GetHeadersRaw(response bool) ([]byte, error) {
	mapType := internal.MapTypeHttpRequestHeaders
	if response {
		mapType = internal.MapTypeHttpResponseHeaders
	}
	var rvs int
	var raw *byte
	st := internal.ProxyGetHeaderMapPairs(mapType, &raw, &rvs)
	if st != internal.StatusOK {
		return nil, internal.StatusToError(st)
	} else if raw == nil {
		return nil, types.ErrorStatusNotFound
	}
	return internal.RawBytePtrToByteSlice(raw, rvs), nil
}

// DecodeHeaders decodes an encoding GetHeadersRaw returned into dst's array
// when it has room (internal.DeserializeMapWire); nil when malformed.
func DecodeHeaders(dst [][2]string, raw []byte) [][2]string {
	hs, _ := internal.DeserializeMapWire(dst, raw)
	return hs
}

// ReplaceHeadersWire replaces the request headers (response: the
// response's) with those of wire (an encoding GetHeadersWire returned)
// followed by extra: ReplaceHttpRequestHeaders of that list, with wire's
// pairs copied from it in two memmoves instead of string by string.
func ReplaceHeadersWire(response bool, wire []byte, extra [][2]string) error {
	mapType := internal.MapTypeHttpRequestHeaders
	if response {
		mapType = internal.MapTypeHttpResponseHeaders
	}
	b := internal.SerializeWire(wire, extra)
	return internal.StatusToError(internal.ProxySetHeaderMapPairs(mapType, &b[0], len(b)))
}

// IncrementMetric adds offset to a counter or gauge (proxy_increment_metric).
func IncrementMetric(id uint32, offset int64) error {
	return internal.StatusToError(internal.ProxyIncrementMetric(id, offset))
}

// RecordMetric sets a gauge or records a histogram value (proxy_record_metric).
func RecordMetric(id uint32, value uint64) error {
	return internal.StatusToError(internal.ProxyRecordMetric(id, value))
}

// SetHttpContextDeleted sets the function called with each HTTP context at
// its proxy_on_delete (after which the host never names it again).
func SetHttpContextDeleted(f func(types.HttpContext)) { internal.HttpContextDeleted = f }

// GetResponseHeadersRaw is GetHeadersRaw(true): the host's encoding of the
// response headers, a view of the host's copy, unchecked (the caller walks
// it: the filter's scanWire), or nil when the call failed or returned
// nothing (the caller only tells a read from none). Its host call is
// internal.ResponseHeadersWire, a layer less than GetHeadersRaw's, inlined
// into the caller.
func GetResponseHeadersRaw() []byte { return internal.ResponseHeadersWire() }

// GetResponseHeader is GetHttpResponseHeader without the SDK's layers
// (internal.ResponseHeaderValue): the value, a view of the host's copy;
// false when the call failed (no such header among them).
func GetResponseHeader(key string) (string, bool) { return internal.ResponseHeaderValue(key) }

// AddResponseHeader is AddHttpResponseHeader without the SDK's layers:
// proxy_add_header_map_value of the response headers, its status turned
// into an error only on failure.
func AddResponseHeader(key, value string) error {
	st := internal.ProxyAddHeaderMapValue(internal.MapTypeHttpResponseHeaders,
		*(**byte)(unsafe.Pointer(&key)), len(key), *(**byte)(unsafe.Pointer(&value)), len(value)) // the strings' data
	if st != internal.StatusOK {
		return internal.StatusToError(st)
	}
	return nil
}

// ReplaceResponseHeadersRaw replaces the response headers with the map b
// encodes (proxy_set_header_map_pairs of b as it is; b is not empty).
func ReplaceResponseHeadersRaw(b []byte) error {
	if st := internal.ProxySetHeaderMapPairs(internal.MapTypeHttpResponseHeaders, &b[0], len(b)); st != internal.StatusOK {
		return internal.StatusToError(st)
	}
	return nil
}
