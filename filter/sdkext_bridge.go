//go:build wasip1 && breakwater_bridge

package filter

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The .wasm build's SDK copy reads header maps into a caller's slice and
// keeps their encoding, which a write of the same map with headers appended
// copies, and
// has metric calls that return whether the host took them and a hook at the deletion of
// an HTTP context (filter/sdkbridge/ext.go); see sdkext_other.go.

func init() {
	proxywasm.SetHttpContextDeleted(func(c types.HttpContext) {
		if h, ok := c.(*httpContext); ok {
			h.deleted()
		}
	})
}

func getHeaders(response bool, dst [][2]string) ([][2]string, []byte, error) {
	return proxywasm.GetHeadersWire(response, dst)
}

// readRequestHeaders returns the host's encoding of the request headers
// (host: it is the host's, which replaceHeadersBlock copies); no list (see
// requestInfo.list).
func readRequestHeaders() (raw []byte, hs [][2]string, host bool) {
	raw = proxywasm.GetRequestHeadersRaw()
	return raw, nil, raw != nil
}

// decodeHeaders decodes raw (readRequestHeaders') into dst's array when it
// has room.
func decodeHeaders(dst [][2]string, raw []byte) [][2]string {
	if raw == nil {
		return nil
	}
	return proxywasm.DecodeHeaders(dst, raw)
}

// replaceHeadersBlock sets the request headers to those of wire, then the
// n pairs enc encodes (reqSet.enc).
func replaceHeadersBlock(wire []byte, n int, enc []byte) bool {
	return proxywasm.ReplaceRequestHeadersBlock(wire, n, enc)
}

// replaceRequestHeader sets a request header, replacing any value.
func replaceRequestHeader(name, value string) { proxywasm.ReplaceRequestHeader(name, value) }

func incMetric(id uint32, n int64) { _ = proxywasm.IncrementMetric(id, n) }

func recordMetric(id uint32, v uint64) { _ = proxywasm.RecordMetric(id, v) }
