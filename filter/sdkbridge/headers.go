//go:build wasip1 && breakwater_bridge

// This file is added to the public package of the SDK's build copy
// (scripts/build-wasm.sh copies it to build/sdk/proxywasm/zz_breakwater_headers.go):
// the header-map reads of the SDK, decoding into a caller's slice
// (internal.DeserializeMapInto, filter/sdkbridge/serde.go) instead of a new
// one per call. The filter calls them through filter/sdkext_bridge.go.
package proxywasm

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// GetHttpRequestHeadersInto is GetHttpRequestHeaders decoding into dst's
// array when it has room for the headers. The strings are views of the
// host's copy, as GetHttpRequestHeaders's are.
func GetHttpRequestHeadersInto(dst [][2]string) ([][2]string, error) {
	return getMapInto(internal.MapTypeHttpRequestHeaders, dst)
}

// GetHttpResponseHeadersInto is GetHttpResponseHeaders decoding into dst's
// array when it has room for the headers.
func GetHttpResponseHeadersInto(dst [][2]string) ([][2]string, error) {
	return getMapInto(internal.MapTypeHttpResponseHeaders, dst)
}

func getMapInto(mapType internal.MapType, dst [][2]string) ([][2]string, error) {
	var rvs int
	var raw *byte
	st := internal.ProxyGetHeaderMapPairs(mapType, &raw, &rvs)
	if st != internal.StatusOK {
		return nil, internal.StatusToError(st)
	} else if raw == nil {
		return nil, types.ErrorStatusNotFound
	}
	return internal.DeserializeMapInto(dst, internal.RawBytePtrToByteSlice(raw, rvs)), nil
}
