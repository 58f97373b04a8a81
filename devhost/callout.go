package devhost

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
)

// calloutResult is what proxy_on_http_call_response sees: headers (with
// :status) through map type 6, the body through buffer type 4.
type calloutResult struct {
	headers *headerMap
	body    []byte
	failed  bool
}

func withConnAddr(ctx context.Context, addr *string) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { *addr = i.Conn.RemoteAddr().String() },
	})
}

// hHTTPCall is proxy_http_call (Envoy Context::httpCall): the cluster must
// exist and the headers carry :method, :path and :authority (else
// BadArgument); timeout 0 means none. The call is dispatched on the root
// context of the effective context; when it completes,
// proxy_on_http_call_response(root, token, headers, body size, trailers)
// runs on this VM's dispatcher.
//
// As with Envoy's async client (which runs the router), a connect failure,
// a reset or a timeout arrive as a response: 503 "upstream connect error or
// disconnect/reset before headers. reset reason: ..." or 504 "upstream
// request timeout". Only a response body beyond MaxBodyBytes is a failure:
// 0 headers, 0 body, proxy_get_status BrokenConnection "reset".
func (inst *instance) hHTTPCall(mod api.Module, st []uint64) Status {
	cluster, ok1 := view(mod, u32(st, 0), u32(st, 1))
	hdrs, ok2 := view(mod, u32(st, 2), u32(st, 3))
	body, ok3 := view(mod, u32(st, 4), u32(st, 5))
	_, ok4 := view(mod, u32(st, 6), u32(st, 7))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return StatusInvalidMemoryAccess
	}
	timeout := time.Duration(u32(st, 8)) * time.Millisecond
	h := inst.h
	base := h.clusters[string(cluster)]
	if base == nil {
		return StatusBadArgument
	}
	kv, err := decodePairs(hdrs)
	if err != nil {
		return StatusBadArgument
	}
	m := &headerMap{kv: kv}
	method, okm := m.get(":method")
	path, okp := m.get(":path")
	authority, oka := m.get(":authority")
	if !okm || !okp || !oka {
		return StatusBadArgument
	}
	r := inst.effectiveRoot()
	if r == nil {
		return StatusBadArgument
	}
	inst.nextToken++
	token := inst.nextToken
	if !putU32(mod, u32(st, 9), token) {
		return StatusInvalidMemoryAccess
	}
	h.counters.callouts.Add(1)
	reqBody := append([]byte(nil), body...)
	root := r.id
	u := *base
	u.Path, u.RawPath, u.RawQuery = "", "", ""
	target := strings.TrimSuffix(u.String(), "/") + path
	go func() {
		res := h.doCallout(method, target, authority, m, reqBody, timeout)
		w := inst.w
		w.post(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.inst != inst || inst.dead {
				return
			}
			if rc := inst.roots[root]; rc == nil || rc.deleted {
				return
			}
			inst.callResp = res
			if res.failed {
				inst.status, inst.statusMsg = uint32(StatusBrokenConnection), "reset"
			}
			nh, nb := res.headers.len(), len(res.body)
			inst.call("proxy_on_http_call_response", inst.f.onHTTPCallResponse, nil, root,
				uint64(root), uint64(token), uint64(nh), uint64(nb), 0)
			inst.callResp = nil
			inst.status, inst.statusMsg = 0, ""
		})
	}()
	return StatusOK
}

func (h *Host) doCallout(method, target, authority string, m *headerMap, body []byte, timeout time.Duration) *calloutResult {
	ctx := h.baseCtx
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	reply := func(code int, text string) *calloutResult {
		hm := &headerMap{}
		hm.add(":status", strconv.Itoa(code))
		hm.add("content-length", strconv.Itoa(len(text)))
		hm.add("content-type", "text/plain")
		return &calloutResult{headers: hm, body: []byte(text)}
	}
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return reply(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: connection failure")
	}
	req.Host = authority
	req.ContentLength = int64(len(body))
	for _, p := range m.kv {
		if strings.HasPrefix(p.k, ":") || p.k == "content-length" || hopByHop[p.k] {
			continue
		}
		req.Header[p.k] = append(req.Header[p.k], p.v)
	}
	if timeout > 0 {
		req.Header[hdrExpectedTimeout] = []string{strconv.FormatInt(timeout.Milliseconds(), 10)}
	}
	resp, err := h.transport.RoundTrip(req)
	var respBody []byte
	if err == nil {
		respBody, err = readBody(resp.Body, h.opts.MaxBodyBytes)
		resp.Body.Close()
		if err == errBodyTooLarge {
			return &calloutResult{headers: &headerMap{}, failed: true}
		}
	}
	if err != nil {
		if ctx.Err() != nil && timeout > 0 {
			return reply(http.StatusGatewayTimeout, "upstream request timeout")
		}
		reason := "connection termination"
		switch classify(err, context.Background(), context.Background()) {
		case failConnect:
			reason = "connection failure"
		case failRemoteReset:
			reason = "remote reset"
		}
		return reply(http.StatusServiceUnavailable, "upstream connect error or disconnect/reset before headers. reset reason: "+reason)
	}
	hm := &headerMap{kv: make([]pair, 0, len(resp.Header)+2)}
	hm.add(":status", strconv.Itoa(resp.StatusCode))
	for k, vs := range resp.Header {
		lk := strings.ToLower(k)
		if hopByHop[lk] {
			continue
		}
		for _, v := range vs {
			hm.add(lk, v)
		}
	}
	return &calloutResult{headers: hm, body: respBody}
}
