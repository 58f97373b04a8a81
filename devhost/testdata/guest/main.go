// Command guest is a tiny proxy-wasm plugin used by the devhost tests. It is
// built with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared and talks
// to the host directly through //go:wasmimport env proxy_* (no SDK). Its
// behaviour is driven by the request header "x-op" (comma-separated ops) and
// by the plugin configuration ("key=value;key=value").
package main

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

func main() {}

// ---------------------------------------------------------------------------
// imports

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_property
func proxySetProperty(path unsafe.Pointer, pathSize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t, start, max uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(t, start, length uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(t uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(t uint32, key unsafe.Pointer, keySize uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(t uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(t uint32, key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_close_stream
func proxyCloseStream(t uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(code uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, hdrs unsafe.Pointer, hdrsSize uint32, grpc int32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up unsafe.Pointer, upSize uint32, hdrs unsafe.Pointer, hdrsSize uint32, body unsafe.Pointer, bodySize uint32, trl unsafe.Pointer, trlSize uint32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(key unsafe.Pointer, keySize uint32, retPtr *uint32, retSize *uint32, cas *uint32) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(key unsafe.Pointer, keySize uint32, val unsafe.Pointer, valSize uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(name unsafe.Pointer, nameSize uint32, id *uint32) uint32

//go:wasmimport env proxy_resolve_shared_queue
func proxyResolveSharedQueue(vm unsafe.Pointer, vmSize uint32, name unsafe.Pointer, nameSize uint32, id *uint32) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(id uint32, val unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(id uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(t uint32, name unsafe.Pointer, size uint32, id *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, value *uint64) uint32

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(t uint32, data unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(t uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_get_header_map_size
func proxyGetHeaderMapSize(t uint32, size *uint32) uint32

//go:wasmimport env proxy_get_status
func proxyGetStatus(code *uint32, retPtr *uint32, retSize *uint32) uint32

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(level *uint32) uint32

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTimeNanoseconds(t *uint64) uint32

//go:wasmimport env proxy_get_buffer_status
func proxyGetBufferStatus(t uint32, length *uint32, flags *uint32) uint32

//go:wasmimport env proxy_grpc_call
func proxyGrpcCall(a unsafe.Pointer, b uint32, c unsafe.Pointer, d uint32, e unsafe.Pointer, f uint32, g unsafe.Pointer, h uint32, i unsafe.Pointer, j uint32, timeout uint32, token *uint32) uint32

//go:wasmimport env proxy_grpc_cancel
func proxyGrpcCancel(token uint32) uint32

//go:wasmimport env proxy_done
func proxyDone() uint32

//go:wasmimport env proxy_clear_route_cache
func proxyClearRouteCache() uint32

//go:wasmimport env proxy_continue_request
func proxyContinueRequest() uint32

//go:wasmimport env proxy_call_foreign_function
func proxyCallForeignFunction(name unsafe.Pointer, nameSize uint32, arg unsafe.Pointer, argSize uint32, retPtr *uint32, retSize *uint32) uint32

// ---------------------------------------------------------------------------
// memory

var pending [][]byte

//go:wasmexport proxy_on_memory_allocate
func onMemoryAllocate(size uint32) unsafe.Pointer {
	b := make([]byte, size)
	pending = append(pending, b)
	return unsafe.Pointer(&b[0])
}

// take returns the host-written buffer at ptr.
func take(ptr, size uint32) []byte {
	defer func() { pending = pending[:0] }()
	if ptr == 0 || size == 0 {
		return nil
	}
	for _, b := range pending {
		if uint32(uintptr(unsafe.Pointer(&b[0]))) == ptr {
			return b[:size]
		}
	}
	return nil
}

func sp(s string) (unsafe.Pointer, uint32) {
	if s == "" {
		return nil, 0
	}
	return unsafe.Pointer(unsafe.StringData(s)), uint32(len(s))
}

func bp(b []byte) (unsafe.Pointer, uint32) {
	if len(b) == 0 {
		return nil, 0
	}
	return unsafe.Pointer(&b[0]), uint32(len(b))
}

// ---------------------------------------------------------------------------
// helpers

func logf(level uint32, msg string) {
	p, n := sp(msg)
	proxyLog(level, p, n)
}

func prop(path ...string) ([]byte, uint32) {
	p, n := sp(strings.Join(path, "\x00"))
	var rp, rs uint32
	st := proxyGetProperty(p, n, &rp, &rs)
	return take(rp, rs), st
}

func propInt(path ...string) string {
	v, st := prop(path...)
	if st != 0 {
		return "status" + strconv.Itoa(int(st))
	}
	if len(v) != 8 {
		return "len" + strconv.Itoa(len(v))
	}
	return strconv.FormatInt(int64(binary.LittleEndian.Uint64(v)), 10)
}

func propStr(path ...string) string {
	v, st := prop(path...)
	if st != 0 {
		return "status" + strconv.Itoa(int(st))
	}
	return string(v)
}

func header(t uint32, k string) (string, uint32) {
	p, n := sp(k)
	var rp, rs uint32
	st := proxyGetHeaderMapValue(t, p, n, &rp, &rs)
	return string(take(rp, rs)), st
}

func addHeader(t uint32, k, v string) uint32 {
	kp, kn := sp(k)
	vp, vn := sp(v)
	return proxyAddHeaderMapValue(t, kp, kn, vp, vn)
}

func replaceHeader(t uint32, k, v string) uint32 {
	kp, kn := sp(k)
	vp, vn := sp(v)
	return proxyReplaceHeaderMapValue(t, kp, kn, vp, vn)
}

func pairs(t uint32) [][2]string {
	var rp, rs uint32
	if proxyGetHeaderMapPairs(t, &rp, &rs) != 0 {
		return nil
	}
	b := take(rp, rs)
	if len(b) < 4 {
		return nil
	}
	n := int(binary.LittleEndian.Uint32(b))
	out := make([][2]string, n)
	sizes, data := 4, 4+8*n
	for i := 0; i < n; i++ {
		kl := int(binary.LittleEndian.Uint32(b[sizes:]))
		vl := int(binary.LittleEndian.Uint32(b[sizes+4:]))
		sizes += 8
		out[i][0] = string(b[data : data+kl])
		data += kl + 1
		out[i][1] = string(b[data : data+vl])
		data += vl + 1
	}
	return out
}

func encodePairs(kv [][2]string) []byte {
	size := 4
	for _, p := range kv {
		size += 10 + len(p[0]) + len(p[1])
	}
	out := make([]byte, size)
	binary.LittleEndian.PutUint32(out, uint32(len(kv)))
	off := 4
	for _, p := range kv {
		binary.LittleEndian.PutUint32(out[off:], uint32(len(p[0])))
		binary.LittleEndian.PutUint32(out[off+4:], uint32(len(p[1])))
		off += 8
	}
	for _, p := range kv {
		off += copy(out[off:], p[0]) + 1
		off += copy(out[off:], p[1]) + 1
	}
	return out
}

func buffer(t, start, max uint32) ([]byte, uint32) {
	var rp, rs uint32
	st := proxyGetBufferBytes(t, start, max, &rp, &rs)
	return take(rp, rs), st
}

func sendLocal(code uint32, details, body string, hdrs [][2]string) uint32 {
	dp, dn := sp(details)
	bp1, bn := sp(body)
	hp, hn := bp(encodePairs(hdrs))
	return proxySendLocalResponse(code, dp, dn, bp1, bn, hp, hn, -1)
}

// ---------------------------------------------------------------------------
// state

type rootState struct {
	name string
}

type streamState struct {
	root            uint32
	ops             map[string]bool
	bodyReqHdrState uint32
}

var (
	roots       = map[uint32]*rootState{}
	streams     = map[uint32]*streamState{}
	pendingTick []uint32
	pendingResp []uint32
	callouts    = map[uint32]uint32{}
	queueID     uint32
	mRequests   uint32
	mGauge      uint32
	mHist       uint32
	mTicks      uint32
	// quiet (config "quiet=1") makes every callback return at once: the
	// no-op floor for benchmarks.
	quiet bool
)

//go:wasmexport proxy_abi_version_0_2_0
func abiVersion() {}

//go:wasmexport proxy_on_context_create
func onContextCreate(id, parent uint32) {
	if parent == 0 {
		roots[id] = &rootState{}
		return
	}
	streams[id] = &streamState{root: parent, ops: map[string]bool{}}
}

//go:wasmexport proxy_on_vm_start
func onVMStart(root, size uint32) uint32 {
	b, _ := buffer(6, 0, size)
	logf(2, "guest: vm start config="+string(b))
	return 1
}

//go:wasmexport proxy_on_configure
func onConfigure(root, size uint32) uint32 {
	b, st := buffer(7, 0, size)
	if st != 0 {
		logf(5, "guest: config: buffer status "+strconv.Itoa(int(st)))
		return 0
	}
	r := roots[root]
	tick := uint32(0)
	for _, kv := range strings.Split(string(b), ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "fail":
			logf(5, "guest: config: "+v)
			return 0
		case "trap":
			panic("guest: trap in on_configure")
		case "tick":
			n, _ := strconv.Atoi(v)
			tick = uint32(n)
		case "name":
			r.name = v
		case "quiet":
			quiet = v == "1"
		}
	}
	define := func(t uint32, name string) uint32 {
		p, n := sp(name)
		var id uint32
		proxyDefineMetric(t, p, n, &id)
		return id
	}
	mRequests = define(0, "guest.requests_total")
	mGauge = define(1, "guest.gauge")
	mHist = define(2, "guest.latency_ms")
	mTicks = define(0, "guest.ticks_total")
	qp, qn := sp("q")
	proxyRegisterSharedQueue(qp, qn, &queueID)
	if tick > 0 {
		proxySetTickPeriod(tick)
	}
	logf(2, "guest: configured root="+strconv.Itoa(int(root))+" name="+r.name)
	return 1
}

//go:wasmexport proxy_on_request_headers
func onRequestHeaders(ctx, n, eos uint32) uint32 {
	if quiet {
		return 0
	}
	s := streams[ctx]
	ops, _ := header(0, "x-op")
	for _, op := range strings.Split(ops, ",") {
		if op != "" {
			s.ops[op] = true
		}
	}
	if r := roots[s.root]; r != nil && r.name != "" {
		addHeader(0, "x-guest-root", r.name)
	}
	addHeader(0, "x-guest-n", strconv.Itoa(int(n))+"/"+strconv.Itoa(int(eos)))
	if s.ops["trap"] {
		panic("guest: trap requested")
	}
	if s.ops["router"] {
		for _, p := range pairs(0) {
			if name, ok := strings.CutPrefix(p[0], "x-set-"); ok {
				replaceHeader(0, "x-envoy-"+name, p[1])
			}
		}
	}
	if s.ops["shared"] {
		kp, kn := sp("ctr")
		for i := 0; i < 1000; i++ {
			var rp, rs, cas uint32
			st := proxyGetSharedData(kp, kn, &rp, &rs, &cas)
			v := take(rp, rs)
			cur := 0
			if st == 0 {
				cur, _ = strconv.Atoi(string(v))
			}
			nv := strconv.Itoa(cur + 1)
			vp, vn := sp(nv)
			if proxySetSharedData(kp, kn, vp, vn, cas) == 0 {
				addHeader(0, "x-ctr", nv)
				break
			}
		}
	}
	if s.ops["props"] {
		addHeader(0, "x-prop-source", propStr("source", "address"))
		addHeader(0, "x-prop-path", propStr("request", "path"))
		addHeader(0, "x-prop-method", propStr("request", "method"))
		addHeader(0, "x-prop-plugin", propStr("plugin_name"))
		addHeader(0, "x-prop-vmid", propStr("plugin_vm_id"))
		addHeader(0, "x-prop-code", propInt("response", "code"))
		addHeader(0, "x-prop-flags", propInt("response", "flags"))
		addHeader(0, "x-prop-time", propInt("request", "time"))
		addHeader(0, "x-prop-missing", propStr("no", "such"))
		addHeader(0, "x-prop-bare", propStr("request"))
		addHeader(0, "x-prop-hdr", propStr("request", "headers", "x-op"))
	}
	if s.ops["setprop"] {
		pp, pn := sp("my_key")
		vp, vn := sp("my_value")
		st := proxySetProperty(pp, pn, vp, vn)
		addHeader(0, "x-setprop", strconv.Itoa(int(st))+":"+propStr("my_key"))
	}
	if s.ops["metric"] {
		proxyIncrementMetric(mRequests, 1)
		addHeader(0, "x-inc0", strconv.Itoa(int(proxyIncrementMetric(mRequests, 0))))
		addHeader(0, "x-inc-hist", strconv.Itoa(int(proxyIncrementMetric(mHist, 1))))
		if g, st := header(0, "x-gauge"); st == 0 {
			n, _ := strconv.ParseInt(g, 10, 64)
			proxyIncrementMetric(mGauge, n)
		}
		proxyRecordMetric(mHist, 7)
		var v uint64
		st := proxyGetMetric(mRequests, &v)
		addHeader(0, "x-metric", strconv.Itoa(int(st))+":"+strconv.FormatUint(v, 10))
		addHeader(0, "x-get-hist", strconv.Itoa(int(proxyGetMetric(mHist, &v))))
		addHeader(0, "x-get-unknown", strconv.Itoa(int(proxyGetMetric(400, &v))))
	}
	if s.ops["misc"] {
		// set_header_map_pairs replaces the whole map (keys lower-cased).
		kept := [][2]string{}
		for _, p := range pairs(0) {
			if p[0] != "x-drop" {
				kept = append(kept, p)
			}
		}
		kept = append(kept, [2]string{"X-Via-Pairs", "1"})
		pp, pn := bp(encodePairs(kept))
		r := []string{strconv.Itoa(int(proxySetHeaderMapPairs(0, pp, pn)))}
		kp, kn := sp("x-remove")
		r = append(r, strconv.Itoa(int(proxyRemoveHeaderMapValue(0, kp, kn))))
		var size, code, rp, rs, level, flags uint32
		st := proxyGetHeaderMapSize(0, &size)
		r = append(r, strconv.Itoa(int(st))+"/"+strconv.FormatBool(size > 10))
		st = proxyGetStatus(&code, &rp, &rs)
		r = append(r, strconv.Itoa(int(st))+"/"+strconv.Itoa(int(code)))
		st = proxyGetLogLevel(&level)
		r = append(r, strconv.Itoa(int(st))+"/"+strconv.Itoa(int(level)))
		var now uint64
		st = proxyGetCurrentTimeNanoseconds(&now)
		r = append(r, strconv.Itoa(int(st))+"/"+strconv.FormatUint(now, 10))
		st = proxyGetBufferStatus(6, &size, &flags)
		r = append(r, strconv.Itoa(int(st))+"/"+strconv.Itoa(int(size)))
		r = append(r, strconv.Itoa(int(proxyGetBufferStatus(7, &size, &flags)))) // plugin config: only while configuring
		var tok uint32
		r = append(r, strconv.Itoa(int(proxyGrpcCall(nil, 0, nil, 0, nil, 0, nil, 0, nil, 0, 10, &tok))))
		r = append(r, strconv.Itoa(int(proxyGrpcCancel(1))))
		r = append(r, strconv.Itoa(int(proxyDone())))
		r = append(r, strconv.Itoa(int(proxyClearRouteCache())))
		r = append(r, strconv.Itoa(int(proxySetEffectiveContext(9999))))
		r = append(r, strconv.Itoa(int(addHeader(2, "x-not-now", "1")))) // response headers: not available
		_, hst := header(6, ":status")                                   // no callout response now
		r = append(r, strconv.Itoa(int(hst)))
		_, bst := buffer(4, 0, 10)
		r = append(r, strconv.Itoa(int(bst)))
		addHeader(0, "x-misc", strings.Join(r, ","))
		// Continuing while not paused is harmless, but (as in Envoy) the
		// request headers are gone afterwards.
		proxyContinueRequest()
		addHeader(0, "x-after-continue", strconv.Itoa(int(addHeader(0, "x-late", "1"))))
	}
	if s.ops["foreign"] {
		np, nn := sp("nope")
		var rp, rs uint32
		addHeader(0, "x-foreign", strconv.Itoa(int(proxyCallForeignFunction(np, nn, nil, 0, &rp, &rs))))
	}
	if s.ops["enqueue"] {
		vm, vn := sp("")
		qp, qn := sp("q")
		var id uint32
		st := proxyResolveSharedQueue(vm, vn, qp, qn, &id)
		payload, _ := header(0, "x-payload")
		pp, pn := sp(payload)
		addHeader(0, "x-enqueue", strconv.Itoa(int(st))+":"+strconv.Itoa(int(proxyEnqueueSharedQueue(id, pp, pn))))
		np, nn := sp("missing")
		addHeader(0, "x-resolve-missing", strconv.Itoa(int(proxyResolveSharedQueue(vm, vn, np, nn, &id))))
	}
	if s.ops["now"] {
		addHeader(0, "x-now", strconv.FormatInt(time.Now().UnixNano(), 10))
	}
	if s.ops["sleep"] {
		time.Sleep(time.Millisecond)
		addHeader(0, "x-slept", "1")
	}
	if s.ops["log"] {
		msg, _ := header(0, "x-msg")
		logf(3, "guest: op log "+msg)
	}
	if s.ops["callout-bad"] {
		addHeader(0, "x-callout-dispatch", strconv.Itoa(int(callout("nope", "/x", 100, nil))))
		addHeader(0, "x-callout-noauth", strconv.Itoa(int(callout("svc", "", 100, nil))))
	}
	if s.ops["callout"] {
		timeout := uint32(1000)
		if t, st := header(0, "x-callout-timeout"); st == 0 {
			n, _ := strconv.Atoi(t)
			timeout = uint32(n)
		}
		path := "/callout"
		if p, st := header(0, "x-callout-path"); st == 0 {
			path = p
		}
		var token uint32
		if st := callout("svc", path, timeout, &token); st != 0 {
			addHeader(0, "x-callout-dispatch", strconv.Itoa(int(st)))
			return 0
		}
		callouts[token] = ctx
		return 1
	}
	if s.ops["local"] {
		sendLocal(418, "guest local", "teapot", [][2]string{{"x-guest", "local"}})
		return 1
	}
	if s.ops["local-continue"] {
		sendLocal(429, "limited", "", nil)
		return 0
	}
	if s.ops["close"] {
		proxyCloseStream(0)
		return 1
	}
	if s.ops["pause-tick"] || s.ops["local-on-tick"] {
		pendingTick = append(pendingTick, ctx)
		return 1
	}
	if s.ops["pause-forever"] {
		return 1
	}
	return 0
}

func callout(cluster, path string, timeout uint32, token *uint32) uint32 {
	hdrs := [][2]string{{":method", "GET"}, {":authority", "svc.local"}, {"x-from", "guest"}}
	if path != "" {
		hdrs = append(hdrs, [2]string{":path", path})
	}
	cp, cn := sp(cluster)
	hp, hn := bp(encodePairs(hdrs))
	var tok uint32
	if token == nil {
		token = &tok
	}
	return proxyHTTPCall(cp, cn, hp, hn, nil, 0, nil, 0, timeout, token)
}

//go:wasmexport proxy_on_request_body
func onRequestBody(ctx, size, eos uint32) uint32 {
	if quiet {
		return 0
	}
	s := streams[ctx]
	_, s.bodyReqHdrState = header(0, ":path")
	if s.ops["body-upper"] {
		b, _ := buffer(0, 0, size)
		up := []byte(strings.ToUpper(string(b)) + "!")
		p, n := bp(up)
		proxySetBufferBytes(0, 0, size, p, n)
	}
	return 0
}

//go:wasmexport proxy_on_request_trailers
func onRequestTrailers(ctx, n uint32) uint32 { return 0 }

//go:wasmexport proxy_on_response_headers
func onResponseHeaders(ctx, n, eos uint32) uint32 {
	if quiet {
		return 0
	}
	s := streams[ctx]
	addHeader(2, "x-resp-flags", propInt("response", "flags"))
	addHeader(2, "x-resp-details", propStr("response", "code_details"))
	addHeader(2, "x-resp-attempts", propInt("upstream", "request_attempt_count"))
	addHeader(2, "x-resp-code", propInt("response", "code"))
	st, _ := header(2, ":status")
	addHeader(2, "x-resp-status", st)
	_, rs := header(0, ":path")
	addHeader(2, "x-reqhdr-status", strconv.Itoa(int(rs)))
	addHeader(2, "x-body-reqhdr-status", strconv.Itoa(int(s.bodyReqHdrState)))
	if s.ops["replace-resp"] {
		if v, _ := header(2, ":status"); v != "418" {
			sendLocal(503, "fallback", "fallback body", [][2]string{{"x-fallback", "1"}})
			return 1
		}
	}
	if s.ops["pause-resp"] {
		pendingResp = append(pendingResp, ctx)
		return 1
	}
	return 0
}

//go:wasmexport proxy_on_response_body
func onResponseBody(ctx, size, eos uint32) uint32 {
	if quiet {
		return 0
	}
	s := streams[ctx]
	if s.ops["resp-upper"] {
		b, _ := buffer(1, 0, size)
		up := []byte(strings.ToUpper(string(b)))
		p, n := bp(up)
		proxySetBufferBytes(1, 0, size, p, n)
	}
	return 0
}

//go:wasmexport proxy_on_response_trailers
func onResponseTrailers(ctx, n uint32) uint32 { return 0 }

//go:wasmexport proxy_on_log
func onLog(ctx uint32) {
	if quiet {
		return
	}
	path, pst := header(0, ":path")
	_, tst := header(3, "x")
	logf(2, "guest: log ctx="+strconv.Itoa(int(ctx))+" code="+propInt("response", "code")+
		" flags="+propInt("response", "flags")+" details="+propStr("response", "code_details")+
		" path="+path+" pathst="+strconv.Itoa(int(pst))+" trailerst="+strconv.Itoa(int(tst))+
		" dur="+propInt("request", "duration"))
}

//go:wasmexport proxy_on_done
func onDone(ctx uint32) uint32 {
	if _, ok := roots[ctx]; ok {
		logf(2, "guest: root done "+strconv.Itoa(int(ctx)))
	}
	return 1
}

//go:wasmexport proxy_on_delete
func onDelete(ctx uint32) {
	if _, ok := roots[ctx]; ok {
		logf(2, "guest: root deleted "+strconv.Itoa(int(ctx)))
		delete(roots, ctx)
		return
	}
	delete(streams, ctx)
}

//go:wasmexport proxy_on_tick
func onTick(root uint32) {
	proxyIncrementMetric(mTicks, 1)
	ticks := pendingTick
	pendingTick = nil
	for _, ctx := range ticks {
		if proxySetEffectiveContext(ctx) != 0 {
			continue
		}
		if s := streams[ctx]; s != nil && s.ops["local-on-tick"] {
			sendLocal(429, "tick local", "from tick", nil)
			continue
		}
		addHeader(0, "x-resumed", "tick")
		proxyContinueStream(0)
	}
	resp := pendingResp
	pendingResp = nil
	for _, ctx := range resp {
		if proxySetEffectiveContext(ctx) != 0 {
			continue
		}
		addHeader(2, "x-resumed", "tick")
		proxyContinueStream(1)
	}
}

//go:wasmexport proxy_on_queue_ready
func onQueueReady(root, id uint32) {
	for {
		var rp, rs uint32
		st := proxyDequeueSharedQueue(id, &rp, &rs)
		if st != 0 {
			break
		}
		logf(2, "guest: queue ready "+string(take(rp, rs)))
	}
}

//go:wasmexport proxy_on_http_call_response
func onHTTPCallResponse(root, token, nh, bodySize, nt uint32) {
	ctx, ok := callouts[token]
	if !ok {
		return
	}
	delete(callouts, token)
	status, _ := header(6, ":status")
	body, _ := buffer(4, 0, bodySize)
	np := len(pairs(6))
	if proxySetEffectiveContext(ctx) != 0 {
		return
	}
	if nh == 0 {
		status = "failed"
	}
	addHeader(0, "x-callout-status", status)
	addHeader(0, "x-callout-body", string(body))
	addHeader(0, "x-callout-nh", strconv.Itoa(int(nh))+"/"+strconv.Itoa(np))
	proxyContinueStream(0)
}
