//go:build wasip1 && breakwater_bridge

// This file is added to the public package of the SDK's build copy
// (scripts/build-wasm.sh copies it to build/sdk/proxywasm/zz_breakwater_ext.go).
// The filter calls it through filter/sdkext_bridge.go:
//   - the SDK's header-map reads, undecoded (GetHeadersRaw) or decoding into a caller's slice
//     (internal.DeserializeMapWire, filter/sdkbridge/serde.go) instead of a
//     new one per call and keeping the host's encoding, and header-map
//     writes of a map read so with pairs encoded beforehand appended
//     (ReplaceRequestHeadersBlock);
//   - the metric updates, returning whether the host took them instead of
//     panicking (the SDK's MetricCounter.Increment ... panic), so the filter
//     needs no recover around each;
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
// the host's encoding of the map too (for ReplaceHeadersBlock). The strings
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

// GetRequestHeadersRaw is GetHeadersRaw(false) without its error: nil when
// the host gave no headers. Its host call is internal.HeadersWire, as
// GetResponseHeadersRaw's.
func GetRequestHeadersRaw() []byte { return internal.HeadersWire(internal.MapTypeHttpRequestHeaders) }

// DecodeHeaders decodes an encoding GetHeadersRaw returned into dst's array
// when it has room (internal.DeserializeMapWire); nil when malformed.
func DecodeHeaders(dst [][2]string, raw []byte) [][2]string {
	hs, _ := internal.DeserializeMapWire(dst, raw)
	return hs
}

// ReplaceRequestHeadersBlock replaces the request headers with those of
// wire (an encoding GetRequestHeadersRaw returned, scanned by the caller)
// followed by n pairs encoded beforehand in enc: their sizes (8n bytes, a
// key length and a value length each, little-endian uint32s), then their
// data (each key and value followed by a NUL), as in a header map after its
// count. The map is put together in blockBuf with four memmoves (wire's
// sizes, enc's, wire's data, enc's); false when wire or enc is not so
// (nothing written) or the host refused the map.
func ReplaceRequestHeadersBlock(wire []byte, n int, enc []byte) bool {
	wl, el, ne := uintptr(len(wire)), uintptr(len(enc)), 8*uintptr(n)
	if wl < 4 || ne > el || el == 0 {
		return false
	}
	wp, ep := unsafe.Pointer(&wire[0]), unsafe.Pointer(&enc[0]) // enc: at least the policy's pair
	nw := uintptr(*(*uint32)(wp))
	hdr := 4 + 8*nw
	if hdr > wl {
		return false
	}
	size := wl + el
	b := blockBuf
	if uintptr(cap(b)) < size {
		if size > blockBufMax {
			b = make([]byte, size)
		} else {
			b = make([]byte, blockBufMax)
			blockBuf = b
		}
	}
	base := unsafe.Pointer(&b[:1][0])
	*(*uint32)(base) = uint32(nw + uintptr(n))
	memmove(unsafe.Add(base, 4), unsafe.Add(wp, 4), hdr-4)
	memmove(unsafe.Add(base, hdr), ep, ne)
	memmove(unsafe.Add(base, hdr+ne), unsafe.Add(wp, hdr), wl-hdr)
	memmove(unsafe.Add(base, wl+ne), unsafe.Add(ep, ne), el-ne)
	return internal.ProxySetHeaderMapPairs(internal.MapTypeHttpRequestHeaders, (*byte)(base), int(size)) == internal.StatusOK
}

// blockBuf is ReplaceRequestHeadersBlock's reused buffer: the host copies the
// map during the call. A map larger than blockBufMax gets a buffer of its
// own.
var blockBuf []byte

const blockBufMax = 4096

// memmove is the runtime's (memory.copy in wasm), on pointers, without the
// bounds checks and slice headers of copy.
//
//go:linkname memmove runtime.memmove
//go:noescape
func memmove(to, from unsafe.Pointer, n uintptr)

// ReplaceRequestHeader is ReplaceHttpRequestHeader returning whether the
// host took it, without StatusToError's call.
func ReplaceRequestHeader(key, value string) bool {
	return internal.ProxyReplaceHeaderMapValue(internal.MapTypeHttpRequestHeaders,
		internal.StringBytePtr(key), len(key), internal.StringBytePtr(value), len(value)) == internal.StatusOK
}

// IncrementMetric adds offset to a counter or gauge (proxy_increment_metric);
// false when the host refused (the status itself is not turned into an
// error: the filter ignores it, and StatusToError costs a call per metric
// update).
func IncrementMetric(id uint32, offset int64) bool {
	return internal.ProxyIncrementMetric(id, offset) == internal.StatusOK
}

// RecordMetric sets a gauge or records a histogram value (proxy_record_metric);
// false when the host refused (see IncrementMetric).
func RecordMetric(id uint32, value uint64) bool {
	return internal.ProxyRecordMetric(id, value) == internal.StatusOK
}

// SetHttpContextDeleted sets the function called with each HTTP context at
// its proxy_on_delete (after which the host never names it again).
func SetHttpContextDeleted(f func(types.HttpContext)) { internal.HttpContextDeleted = f }

// GetResponseHeadersRaw is GetHeadersRaw(true): the host's encoding of the
// response headers, a view of the host's copy, unchecked (the caller walks
// it: the filter's scanWire), or nil when the call failed or returned
// nothing (the caller only tells a read from none). Its host call is
// internal.HeadersWire, a layer less than GetHeadersRaw's, inlined
// into the caller.
func GetResponseHeadersRaw() []byte { return internal.HeadersWire(internal.MapTypeHttpResponseHeaders) }

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
