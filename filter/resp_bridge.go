//go:build wasip1 && breakwater_bridge

package filter

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
)

// statusAt and attemptAt say whether the bytes at p are ":status" and
// "x-envoy-attempt-count" (statusWords, attemptWords).
func statusAt(p unsafe.Pointer) bool  { return statusWords(p) }
func attemptAt(p unsafe.Pointer) bool { return attemptWords(p) }

// respVM is what the response side keeps per VM: raw is the encoding of
// the upstream response's headers while on_http_response_headers runs,
// when it read them (readResponseHeaders), up what scanWire found in it,
// enc the buffer the headers are written from (encodeWire; the host
// copies them during the call).
type respVM struct {
	raw []byte
	up  respScan
	enc []byte
}

// addResponseHeader adds a header to the upstream response with one host
// call (proxywasm.AddResponseHeader: the call without the SDK's layers).
func addResponseHeader(key, value string) { _ = proxywasm.AddResponseHeader(key, value) }

// getResponseHeader reads a header of the upstream response with one host
// call (proxywasm.GetResponseHeader: the call without the SDK's layers).
func getResponseHeader(name string) (string, bool) { return proxywasm.GetResponseHeader(name) }

// drop forgets the headers read: nothing to do, raw is read only while
// upRespOK holds (dropResponseHeaders clears it) and the next read replaces
// it, so a VM keeps at most one response's copy (a view into one chunk of
// the bridge's) until its next response, without a store per response.
func (r *respVM) drop() {}

// readResponseHeaders reads the upstream response's headers with one call
// for the callback (write: the filter's are written with them in one
// call): their encoding, kept undecoded in the VM's resp, with what
// scanWire found in it (up). When the read fails (upRespOK false; a
// malformed map fails too) the callback reads a header with a call of its
// own and adds the filter's one call each.
func (h *httpContext) readResponseHeaders(write bool) {
	h.upRespWrite = write
	raw := proxywasm.GetResponseHeadersRaw()
	if raw == nil {
		return
	}
	p := h.p
	h.upRespOK = scanInto(&p.resp.up, raw)
	if h.upRespOK {
		p.resp.raw = raw
	}
}

// writeHeaderMap writes the headers read (their encoding) with
// x-breakwater-policy (encoded when the policy was built) and the recorded
// ones appended (encodeWire), and forgets them; true: written.
func (h *httpContext) writeHeaderMap() bool {
	p := h.p
	var b []byte
	if blk := h.wireBlock(); blk != nil { // the rate limit's headers, encoded (rlWire)
		b = encodeWireBlock(p.resp.enc, p.resp.raw, &p.resp.up, blk)
	} else {
		b = encodeWire(p.resp.enc, p.resp.raw, &p.resp.up, h.pol.respPre, len("x-breakwater-policy"), h.respHeaders)
	}
	p.resp.enc = b
	h.dropResponseHeaders() // the host copies the map during the call
	return proxywasm.ReplaceResponseHeadersRaw(b) == nil
}

// responseStatus returns the upstream response's :status as a number (0:
// none, or not a number).
func (h *httpContext) responseStatus() int {
	if h.upRespOK {
		return h.p.resp.up.status // 0 when there is none
	}
	return readStatus() // a function of its own: this one is inlined
}

// readStatus is responseStatus with a call of its own.
func readStatus() int {
	s, ok := getResponseHeader(":status")
	if !ok {
		return 0
	}
	return parseStatus(unsafe.Pointer(unsafe.StringData(s)), uintptr(len(s)))
}

// responseAttempts returns the first x-envoy-attempt-count of the upstream
// response.
func (h *httpContext) responseAttempts() (string, bool) {
	if r := &h.p.resp; h.upRespOK {
		v := unsafe.Add(unsafe.Pointer(unsafe.SliceData(r.raw)), r.up.attOff) // within raw (scanWire)
		return unsafe.String((*byte)(v), int(r.up.attLen)), r.up.has&hasAttempt != 0
	}
	return getResponseHeader("x-envoy-attempt-count")
}

// responseHeaders returns the upstream response's headers: those read,
// decoded into the VM's respHdrs (forgotten with them), or read now.
func (h *httpContext) responseHeaders() ([][2]string, error) {
	p := h.p
	if !h.upRespOK {
		hs, _, err := getHeaders(true, nil)
		return hs, err
	}
	if h.upResp == nil {
		h.upResp = proxywasm.DecodeHeaders(p.respHdrs, p.resp.raw)
		if cap(h.upResp) > cap(p.respHdrs) {
			p.respHdrs = h.upResp[:0]
		}
	}
	return h.upResp, nil
}
