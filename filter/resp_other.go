//go:build !(wasip1 && breakwater_bridge)

package filter

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// statusAt and attemptAt say whether the bytes at p are ":status" and
// "x-envoy-attempt-count" (natively string comparisons: the .wasm build's
// compare unaligned words).
func statusAt(p unsafe.Pointer) bool { return unsafe.String((*byte)(p), len(":status")) == ":status" }

func attemptAt(p unsafe.Pointer) bool {
	return unsafe.String((*byte)(p), len("x-envoy-attempt-count")) == "x-envoy-attempt-count"
}

// respVM is what the response side keeps per VM: natively nothing (the
// headers are read into a list, upResp).
type respVM struct{}

func (r *respVM) drop() {}

// getResponseHeader reads a header of the upstream response with one host
// call.
func getResponseHeader(name string) (string, bool) {
	v, err := proxywasm.GetHttpResponseHeader(name)
	return v, err == nil
}

// addResponseHeader adds a header to the upstream response with one host
// call.
func addResponseHeader(key, value string) { _ = proxywasm.AddHttpResponseHeader(key, value) }

// readResponseHeaders reads the upstream response's headers with one call
// for the callback (write: the filter's are written with them in one
// call), into the VM's respHdrs (upResp). When the read fails (upRespOK
// false) the callback reads a header with a call of its own and adds the
// filter's one call each.
func (h *httpContext) readResponseHeaders(write bool) {
	h.upRespWrite = write
	hs, _, err := getHeaders(true, h.p.respHdrs)
	if cap(hs) > cap(h.p.respHdrs) {
		h.p.respHdrs = hs[:0]
	}
	h.upResp, h.upRespOK = hs, err == nil
}

// writeHeaderMap writes the list of headers read with the filter's
// appended, and forgets them; true: written.
func (h *httpContext) writeHeaderMap() bool {
	merged := append(h.p.merged[:0], h.upResp...)
	merged = append(merged, [2]string{"x-breakwater-policy", h.pol.name})
	merged = append(merged, h.respHeaders...)
	err := proxywasm.ReplaceHttpResponseHeaders(merged)
	clear(merged)
	h.p.merged = merged[:0]
	h.dropResponseHeaders()
	return err == nil
}

// responseStatus returns the upstream response's :status as a number (0:
// none, or not a number).
func (h *httpContext) responseStatus() int {
	s, ok := h.listedHeader(":status")
	if !ok {
		return 0
	}
	return atoiOr0(s)
}

// responseAttempts returns the first x-envoy-attempt-count of the upstream
// response.
func (h *httpContext) responseAttempts() (string, bool) {
	return h.listedHeader("x-envoy-attempt-count")
}

// listedHeader returns the first value of a header of the upstream
// response (name in lower case), from the list read at the start of
// on_http_response_headers when there is one.
func (h *httpContext) listedHeader(name string) (string, bool) {
	if h.upRespOK {
		return lookup(h.upResp, name)
	}
	return h.responseHeader(name)
}

// responseHeaders returns the upstream response's headers.
func (h *httpContext) responseHeaders() ([][2]string, error) {
	if h.upRespOK {
		return h.upResp, nil
	}
	hs, _, err := getHeaders(true, nil)
	return hs, err
}
