package devhost

import (
	"context"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wasiENOSYS is WASI's errno "function not supported", what
// proxy-wasm-cpp-host's poll_oneoff returned before PR 533 (Envoy 1.33-1.38).
const wasiENOSYS = 52

// instantiateWASI provides wasi_snapshot_preview1: wazero's implementation,
// with poll_oneoff wrapped to count calls or, with Envoy133WASI, replaced by
// one that returns ENOSYS.
func (h *Host) instantiateWASI() error {
	b := h.rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	i32 := api.ValueTypeI32
	if h.opts.Envoy133WASI {
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				h.counters.pollOneoff.Add(1)
				stack[0] = wasiENOSYS
			}), []api.ValueType{i32, i32, i32, i32}, []api.ValueType{i32}).
			WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
			Export("poll_oneoff")
	}
	_, err := b.Instantiate(h.baseCtx)
	return err
}

// hostFunc is one env.proxy_* import the host provides.
type hostFunc struct {
	name   string
	params []api.ValueType // the result is always one i32 status
	fn     func(inst *instance, mod api.Module, stack []uint64) Status
}

func i32s(n int) []api.ValueType {
	out := make([]api.ValueType, n)
	for i := range out {
		out[i] = api.ValueTypeI32
	}
	return out
}

// hostFuncs lists every host function of proxy-wasm ABI 0.2.1 as
// proxy-wasm-cpp-host exports it to a 0.2.x module. Every pointer and size is
// an i32; metric values are i64.
var hostFuncs = []hostFunc{
	{name: "proxy_log", params: i32s(3), fn: (*instance).hLog},
	{name: "proxy_get_log_level", params: i32s(1), fn: (*instance).hGetLogLevel},
	{name: "proxy_get_current_time_nanoseconds", params: i32s(1), fn: (*instance).hGetCurrentTime},
	{name: "proxy_set_tick_period_milliseconds", params: i32s(1), fn: (*instance).hSetTickPeriod},
	{name: "proxy_get_property", params: i32s(4), fn: (*instance).hGetProperty},
	{name: "proxy_set_property", params: i32s(4), fn: (*instance).hSetProperty},
	{name: "proxy_get_buffer_bytes", params: i32s(5), fn: (*instance).hGetBufferBytes},
	{name: "proxy_get_buffer_status", params: i32s(3), fn: (*instance).hGetBufferStatus},
	{name: "proxy_set_buffer_bytes", params: i32s(5), fn: (*instance).hSetBufferBytes},
	{name: "proxy_get_header_map_pairs", params: i32s(3), fn: (*instance).hGetHeaderMapPairs},
	{name: "proxy_set_header_map_pairs", params: i32s(3), fn: (*instance).hSetHeaderMapPairs},
	{name: "proxy_get_header_map_value", params: i32s(5), fn: (*instance).hGetHeaderMapValue},
	{name: "proxy_add_header_map_value", params: i32s(5), fn: (*instance).hAddHeaderMapValue},
	{name: "proxy_replace_header_map_value", params: i32s(5), fn: (*instance).hReplaceHeaderMapValue},
	{name: "proxy_remove_header_map_value", params: i32s(3), fn: (*instance).hRemoveHeaderMapValue},
	{name: "proxy_get_header_map_size", params: i32s(2), fn: (*instance).hGetHeaderMapSize},
	{name: "proxy_continue_stream", params: i32s(1), fn: (*instance).hContinueStream},
	{name: "proxy_continue_request", params: i32s(0), fn: (*instance).hContinueRequest},
	{name: "proxy_continue_response", params: i32s(0), fn: (*instance).hContinueResponse},
	{name: "proxy_clear_route_cache", params: i32s(0), fn: func(*instance, api.Module, []uint64) Status { return StatusOK }},
	{name: "proxy_close_stream", params: i32s(1), fn: (*instance).hCloseStream},
	{name: "proxy_send_local_response", params: i32s(8), fn: (*instance).hSendLocalResponse},
	{name: "proxy_http_call", params: i32s(10), fn: (*instance).hHTTPCall},
	{name: "proxy_grpc_call", params: i32s(12), fn: unimplemented},
	{name: "proxy_grpc_stream", params: i32s(9), fn: unimplemented},
	{name: "proxy_grpc_send", params: i32s(4), fn: notAGrpcToken},
	{name: "proxy_grpc_cancel", params: i32s(1), fn: notAGrpcToken},
	{name: "proxy_grpc_close", params: i32s(1), fn: notAGrpcToken},
	{name: "proxy_get_status", params: i32s(3), fn: (*instance).hGetStatus},
	{name: "proxy_set_effective_context", params: i32s(1), fn: (*instance).hSetEffectiveContext},
	{name: "proxy_done", params: i32s(0), fn: (*instance).hDone},
	{name: "proxy_call_foreign_function", params: i32s(6), fn: (*instance).hCallForeignFunction},
	{name: "proxy_get_shared_data", params: i32s(5), fn: (*instance).hGetSharedData},
	{name: "proxy_set_shared_data", params: i32s(5), fn: (*instance).hSetSharedData},
	{name: "proxy_register_shared_queue", params: i32s(3), fn: (*instance).hRegisterSharedQueue},
	{name: "proxy_resolve_shared_queue", params: i32s(5), fn: (*instance).hResolveSharedQueue},
	{name: "proxy_dequeue_shared_queue", params: i32s(3), fn: (*instance).hDequeueSharedQueue},
	{name: "proxy_enqueue_shared_queue", params: i32s(3), fn: (*instance).hEnqueueSharedQueue},
	{name: "proxy_define_metric", params: i32s(4), fn: (*instance).hDefineMetric},
	{name: "proxy_increment_metric", params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, fn: (*instance).hIncrementMetric},
	{name: "proxy_record_metric", params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, fn: (*instance).hRecordMetric},
	{name: "proxy_get_metric", params: i32s(2), fn: (*instance).hGetMetric},
}

// HostFunctions lists the names of the env host functions the dev host provides.
func HostFunctions() []string {
	out := make([]string, len(hostFuncs))
	for i, f := range hostFuncs {
		out[i] = f.name
	}
	return out
}

func unimplemented(*instance, api.Module, []uint64) Status { return StatusUnimplemented }
func notAGrpcToken(*instance, api.Module, []uint64) Status { return StatusBadArgument }

func (h *Host) instantiateEnv() error {
	b := h.rt.NewHostModuleBuilder("env")
	for i := range hostFuncs {
		hf := &hostFuncs[i]
		idx := i
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				inst, _ := ctx.Value(instKey{}).(*instance)
				if inst == nil {
					stack[0] = uint64(StatusInternalFailure)
					return
				}
				inst.w.calls[inst.kind][idx].Add(1)
				if inst.cur != nil {
					inst.cur.hostCalls++
				}
				stack[0] = uint64(hf.fn(inst, mod, stack))
			}), hf.params, []api.ValueType{api.ValueTypeI32}).
			WithName(hf.name).
			Export(hf.name)
	}
	_, err := b.Instantiate(h.baseCtx)
	return err
}

// ---------------------------------------------------------------------------
// memory helpers

func u32(stack []uint64, i int) uint32 { return uint32(stack[i]) }

// view returns guest memory [ptr, ptr+size) without copying (valid until the
// next call into the guest).
func view(mod api.Module, ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	return mod.Memory().Read(ptr, size)
}

func putU32(mod api.Module, ptr, v uint32) bool { return mod.Memory().WriteUint32Le(ptr, v) }

// copyOut returns data to the guest Envoy's way: memory from
// proxy_on_memory_allocate (re-entrant call), then pointer and size written
// at ptrPtr/sizePtr; empty data writes a null pointer and size 0.
func (inst *instance) copyOut(mod api.Module, data []byte, ptrPtr, sizePtr uint32) Status {
	var p uint32
	if len(data) > 0 {
		inst.mstk[0] = uint64(len(data))
		if err := inst.f.malloc.CallWithStack(inst.ctx, inst.mstk); err != nil {
			return StatusInvalidMemoryAccess
		}
		p = uint32(inst.mstk[0])
		inst.h.counters.guestAllocs.Add(1)
		if inst.kind == 0 {
			inst.h.counters.reqAllocs.Add(1)
		}
		if p == 0 || !mod.Memory().Write(p, data) {
			return StatusInvalidMemoryAccess
		}
	}
	if !putU32(mod, ptrPtr, p) || !putU32(mod, sizePtr, uint32(len(data))) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// effectiveRoot is the root context of the effective context.
func (inst *instance) effectiveRoot() *rootCtx {
	if s := inst.effStream; s != nil {
		return inst.roots[s.root]
	}
	return inst.roots[inst.effective]
}

// ---------------------------------------------------------------------------
// logging, time, ticks

func (inst *instance) hLog(mod api.Module, st []uint64) Status {
	lvl := LogLevel(u32(st, 0))
	msg, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	if lvl > LogCritical {
		return StatusBadArgument
	}
	if lvl >= LogError && inst.pluginConfigOK {
		inst.initLog = append(inst.initLog, lvl.String()+": "+string(msg))
	}
	if lvl >= inst.h.opts.LogLevel {
		inst.h.logs.add(LogEntry{Time: inst.h.opts.Clock.Now(), Worker: inst.w.idx, Level: lvl, Message: string(msg)})
	}
	return StatusOK
}

func (inst *instance) hGetLogLevel(mod api.Module, st []uint64) Status {
	if !putU32(mod, u32(st, 0), uint32(inst.h.opts.LogLevel)) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func (inst *instance) hGetCurrentTime(mod api.Module, st []uint64) Status {
	if !mod.Memory().WriteUint64Le(u32(st, 0), uint64(inst.h.opts.Clock.Now().UnixNano())) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// hSetTickPeriod sets the tick period of the effective context's root
// (Envoy: per root context; 0 stops the ticks).
func (inst *instance) hSetTickPeriod(mod api.Module, st []uint64) Status {
	r := inst.effectiveRoot()
	if r == nil {
		return StatusBadArgument
	}
	inst.setTick(r, time.Duration(u32(st, 0))*time.Millisecond)
	return StatusOK
}

// ---------------------------------------------------------------------------
// properties

func (inst *instance) hGetProperty(mod api.Module, st []uint64) Status {
	path, ok := view(mod, u32(st, 0), u32(st, 1))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	val, status := inst.getProperty(string(path))
	if status != StatusOK {
		return status
	}
	return inst.copyOut(mod, val, u32(st, 2), u32(st, 3))
}

// hSetProperty stores a value in the stream's filter state (Envoy: key
// "wasm.<path>", readable back with proxy_get_property). Without a stream
// (root context) there is no stream info: NotFound.
func (inst *instance) hSetProperty(mod api.Module, st []uint64) Status {
	path, ok1 := view(mod, u32(st, 0), u32(st, 1))
	val, ok2 := view(mod, u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return StatusInvalidMemoryAccess
	}
	s := inst.effStream
	if s == nil {
		return StatusNotFound
	}
	if s.filterState == nil {
		s.filterState = map[string][]byte{}
	}
	s.filterState[string(path)] = append([]byte(nil), val...)
	return StatusOK
}

// ---------------------------------------------------------------------------
// buffers

// buffer returns the buffer of type t for the effective context. nil with OK
// means an empty buffer (Envoy's Buffer wrapping nullptr).
func (inst *instance) buffer(t uint32) (buf *[]byte, writable bool, status Status) {
	s := inst.effStream
	switch t {
	case bufRequestBody:
		if s != nil && s.vis&visReqBody != 0 {
			return &s.reqBody, true, StatusOK
		}
		return nil, false, StatusOK
	case bufResponseBody:
		if s != nil && s.vis&visRespBody != 0 {
			return &s.respBody, true, StatusOK
		}
		return nil, false, StatusOK
	case bufDownstreamData, bufUpstreamData, bufGrpcReceive, bufCallData:
		return nil, false, StatusOK
	case bufHTTPCallResponseBody:
		if inst.callResp == nil {
			return nil, false, StatusNotFound
		}
		return &inst.callResp.body, false, StatusOK
	case bufVMConfiguration:
		return &inst.h.opts.VMConfig, false, StatusOK
	case bufPluginConfiguration:
		if !inst.pluginConfigOK {
			return nil, false, StatusNotFound
		}
		return &inst.pluginConfig, false, StatusOK
	}
	return nil, false, StatusBadArgument
}

// hGetBufferBytes (cpp-host get_buffer_bytes): up to max bytes from start;
// a read past the end is shortened; nothing to read is OK with nothing written.
func (inst *instance) hGetBufferBytes(mod api.Module, st []uint64) Status {
	buf, _, status := inst.buffer(u32(st, 0))
	if status != StatusOK {
		return status
	}
	start, length := uint64(u32(st, 1)), uint64(u32(st, 2))
	var data []byte
	if buf != nil {
		data = *buf
	}
	if start > uint64(len(data)) {
		return StatusBadArgument
	}
	if start+length > uint64(len(data)) {
		length = uint64(len(data)) - start
	}
	if length == 0 {
		return StatusOK
	}
	return inst.copyOut(mod, data[start:start+length], u32(st, 3), u32(st, 4))
}

// hGetBufferStatus (cpp-host get_buffer_status): the buffer's size and
// flags (always 0 here).
func (inst *instance) hGetBufferStatus(mod api.Module, st []uint64) Status {
	buf, _, status := inst.buffer(u32(st, 0))
	if status != StatusOK {
		return status
	}
	n := 0
	if buf != nil {
		n = len(*buf)
	}
	if !putU32(mod, u32(st, 1), uint32(n)) || !putU32(mod, u32(st, 2), 0) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// hSetBufferBytes (Envoy Buffer::copyFrom): start 0 drains `length` bytes
// from the front and prepends the data (so (0, size) replaces the body);
// start >= size appends; anything else is BadArgument. Only the HTTP bodies
// of the current phase are writable.
func (inst *instance) hSetBufferBytes(mod api.Module, st []uint64) Status {
	buf, writable, status := inst.buffer(u32(st, 0))
	if status != StatusOK {
		return status
	}
	data, ok := view(mod, u32(st, 3), u32(st, 4))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	if !writable || buf == nil {
		return StatusBadArgument
	}
	start, length := int(u32(st, 1)), int(u32(st, 2))
	cur := *buf
	switch {
	case start == 0:
		if length > len(cur) {
			length = len(cur)
		}
		nb := make([]byte, 0, len(data)+len(cur)-length)
		nb = append(nb, data...)
		nb = append(nb, cur[length:]...)
		*buf = nb
	case start >= len(cur):
		*buf = append(cur, data...)
	default:
		return StatusBadArgument
	}
	return StatusOK
}

// ---------------------------------------------------------------------------
// header maps

// headerMap returns map t of the effective context. A nil map comes with the
// status proxy_get_header_map_value returns for it: BadArgument ("not
// available now"), or NotFound in the access-log phase (Envoy, ABI 0.2.x).
func (inst *instance) headerMap(t uint32, write bool) (*headerMap, Status) {
	s := inst.effStream
	missing := StatusBadArgument
	if s != nil && s.accessLog && !write {
		missing = StatusNotFound
	}
	switch t {
	case mapRequestHeaders:
		if s != nil && (s.vis&visReqHeaders != 0 || !write && s.accessLog) {
			return s.reqHeaders, StatusOK
		}
	case mapResponseHeaders:
		if s != nil && s.respHeaders != nil && (s.vis&visRespHeaders != 0 || !write && s.accessLog) {
			return s.respHeaders, StatusOK
		}
	case mapRequestTrailers, mapResponseTrailers, mapGrpcReceiveInitial, mapGrpcReceiveTrailing:
		// HTTP/1.1 bodies are buffered whole: no trailers, no gRPC.
	case mapHTTPCallResponseHeaders:
		if inst.callResp != nil && !write {
			return inst.callResp.headers, StatusOK
		}
	case mapHTTPCallResponseTrailers:
		if inst.callResp != nil && !write {
			return &headerMap{}, StatusOK
		}
	default:
		return nil, StatusBadArgument
	}
	return nil, missing
}

func (inst *instance) hGetHeaderMapPairs(mod api.Module, st []uint64) Status {
	t := u32(st, 0)
	if t > mapMax {
		return StatusBadArgument
	}
	m, _ := inst.headerMap(t, false)
	var kv []pair
	if m != nil {
		kv = m.kv
	}
	return inst.copyOut(mod, encodePairs(kv), u32(st, 1), u32(st, 2))
}

func (inst *instance) hSetHeaderMapPairs(mod api.Module, st []uint64) Status {
	data, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	m, status := inst.headerMap(u32(st, 0), true)
	if m == nil {
		return status
	}
	kv, err := decodePairs(data)
	if err != nil {
		return StatusBadArgument
	}
	m.kv = kv
	return StatusOK
}

func (inst *instance) hGetHeaderMapValue(mod api.Module, st []uint64) Status {
	key, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	m, status := inst.headerMap(u32(st, 0), false)
	if m == nil {
		return status
	}
	v, found := m.getBytes(key)
	if !found {
		return StatusNotFound
	}
	return inst.copyOut(mod, []byte(v), u32(st, 3), u32(st, 4))
}

func (inst *instance) mapKV(mod api.Module, st []uint64, withValue bool) (*headerMap, string, string, Status) {
	key, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return nil, "", "", StatusInvalidMemoryAccess
	}
	var val []byte
	if withValue {
		if val, ok = view(mod, u32(st, 3), u32(st, 4)); !ok {
			return nil, "", "", StatusInvalidMemoryAccess
		}
	}
	m, status := inst.headerMap(u32(st, 0), true)
	if m == nil {
		return nil, "", "", status
	}
	return m, string(key), string(val), StatusOK
}

func (inst *instance) hAddHeaderMapValue(mod api.Module, st []uint64) Status {
	m, k, v, status := inst.mapKV(mod, st, true)
	if m == nil {
		return status
	}
	m.add(k, v)
	return StatusOK
}

func (inst *instance) hReplaceHeaderMapValue(mod api.Module, st []uint64) Status {
	m, k, v, status := inst.mapKV(mod, st, true)
	if m == nil {
		return status
	}
	m.replace(k, v)
	return StatusOK
}

func (inst *instance) hRemoveHeaderMapValue(mod api.Module, st []uint64) Status {
	m, k, _, status := inst.mapKV(mod, st, false)
	if m == nil {
		return status
	}
	m.remove(k)
	return StatusOK
}

func (inst *instance) hGetHeaderMapSize(mod api.Module, st []uint64) Status {
	m, status := inst.headerMap(u32(st, 0), true)
	if m == nil {
		return status
	}
	if !putU32(mod, u32(st, 1), uint32(m.byteSize())) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

// ---------------------------------------------------------------------------
// stream control

// hContinueStream: Envoy defers continueDecoding/continueEncoding until the
// current VM call returns (here: the stream's goroutine wakes up and takes
// the VM lock after it); continuing the request also makes the request
// header map and body unavailable, as Envoy nulls them.
func (inst *instance) hContinueStream(mod api.Module, st []uint64) Status {
	s := inst.effStream
	switch u32(st, 0) {
	case streamRequest:
		if s != nil {
			s.cont[dirRequest] = true
			s.vis &^= visReqHeaders | visReqBody
			s.signal()
		}
	case streamResponse:
		if s != nil {
			s.cont[dirResponse] = true
			s.signal()
		}
	case streamDownstream:
	case streamUpstream:
		return StatusUnimplemented
	default:
		return StatusBadArgument
	}
	return StatusOK
}

// hContinueRequest and hContinueResponse are the ABI 0.1.0 spellings of
// continue_stream, still exported by proxy-wasm-cpp-host.
func (inst *instance) hContinueRequest(mod api.Module, st []uint64) Status {
	st[0] = streamRequest
	return inst.hContinueStream(mod, st)
}

func (inst *instance) hContinueResponse(mod api.Module, st []uint64) Status {
	st[0] = streamResponse
	return inst.hContinueStream(mod, st)
}

// hCloseStream resets the stream (Envoy: resetStream(), details
// "wasm_close_stream" when none were set).
func (inst *instance) hCloseStream(mod api.Module, st []uint64) Status {
	s := inst.effStream
	switch u32(st, 0) {
	case streamRequest, streamResponse:
		if s != nil {
			if s.details == "" {
				s.details = DetailsWasmCloseStream
			}
			s.closed = true
			s.signal()
		}
	case streamDownstream, streamUpstream:
	default:
		return StatusBadArgument
	}
	return StatusOK
}

// hSendLocalResponse records a local reply; the stream's goroutine sends it
// (through the plugin's response callbacks, as Envoy's sendLocalReply does)
// once the current call returns. Details get Envoy's whitespace → '_'.
func (inst *instance) hSendLocalResponse(mod api.Module, st []uint64) Status {
	details, ok1 := view(mod, u32(st, 1), u32(st, 2))
	body, ok2 := view(mod, u32(st, 3), u32(st, 4))
	hdrs, ok3 := view(mod, u32(st, 5), u32(st, 6))
	if !ok1 || !ok2 || !ok3 {
		return StatusInvalidMemoryAccess
	}
	kv, err := decodePairs(hdrs)
	if err != nil {
		return StatusBadArgument
	}
	s := inst.effStream
	if s == nil {
		return StatusOK // no decoder callbacks: Envoy ignores it
	}
	if s.local == nil {
		s.local = &localReply{
			code:    int(u32(st, 0)),
			details: strings.Join(strings.Fields(string(details)), "_"),
			body:    append([]byte(nil), body...),
			headers: kv,
		}
		s.signal()
	}
	return StatusOK
}

func (inst *instance) hGetStatus(mod api.Module, st []uint64) Status {
	if !putU32(mod, u32(st, 0), inst.status) {
		return StatusInvalidMemoryAccess
	}
	return inst.copyOut(mod, []byte(inst.statusMsg), u32(st, 1), u32(st, 2))
}

func (inst *instance) hSetEffectiveContext(mod api.Module, st []uint64) Status {
	id := u32(st, 0)
	if s, ok := inst.streams[id]; ok {
		inst.effective, inst.effStream = id, s
		return StatusOK
	}
	if r, ok := inst.roots[id]; ok && !r.deleted {
		inst.effective, inst.effStream = id, nil
		return StatusOK
	}
	return StatusBadArgument
}

func (inst *instance) hDone(api.Module, []uint64) Status { return StatusOK }

func (inst *instance) hCallForeignFunction(api.Module, []uint64) Status { return StatusNotFound }

// ---------------------------------------------------------------------------
// shared data and queues

func (inst *instance) hGetSharedData(mod api.Module, st []uint64) Status {
	key, ok := view(mod, u32(st, 0), u32(st, 1))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	val, cas, status := inst.h.shared.get(inst.h.opts.VMID, key)
	if status != StatusOK {
		return status
	}
	if s := inst.copyOut(mod, val, u32(st, 2), u32(st, 3)); s != StatusOK {
		return s
	}
	if !putU32(mod, u32(st, 4), cas) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func (inst *instance) hSetSharedData(mod api.Module, st []uint64) Status {
	key, ok1 := view(mod, u32(st, 0), u32(st, 1))
	val, ok2 := view(mod, u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return StatusInvalidMemoryAccess
	}
	return inst.h.shared.set(inst.h.opts.VMID, key, val, u32(st, 4))
}

func (inst *instance) hRegisterSharedQueue(mod api.Module, st []uint64) Status {
	name, ok := view(mod, u32(st, 0), u32(st, 1))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	r := inst.effectiveRoot()
	if r == nil {
		return StatusBadArgument
	}
	id := inst.h.queues.register(inst.h.opts.VMID, string(name), inst, r.id)
	if !putU32(mod, u32(st, 2), id) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func (inst *instance) hResolveSharedQueue(mod api.Module, st []uint64) Status {
	vmID, ok1 := view(mod, u32(st, 0), u32(st, 1))
	name, ok2 := view(mod, u32(st, 2), u32(st, 3))
	if !ok1 || !ok2 {
		return StatusInvalidMemoryAccess
	}
	id, found := inst.h.queues.resolve(string(vmID), string(name))
	if !found {
		return StatusNotFound
	}
	if !putU32(mod, u32(st, 4), id) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func (inst *instance) hDequeueSharedQueue(mod api.Module, st []uint64) Status {
	v, status := inst.h.queues.dequeue(u32(st, 0))
	if status != StatusOK {
		return status
	}
	return inst.copyOut(mod, v, u32(st, 1), u32(st, 2))
}

// hEnqueueSharedQueue appends and posts proxy_on_queue_ready(root, token) to
// the VM whose root registered the queue last, on that VM's dispatcher.
func (inst *instance) hEnqueueSharedQueue(mod api.Module, st []uint64) Status {
	v, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	token := u32(st, 0)
	owner, root, status := inst.h.queues.enqueue(token, v)
	if status != StatusOK {
		return status
	}
	if owner != nil {
		w := owner.w
		w.post(func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.inst != owner || owner.dead {
				return
			}
			if r := owner.roots[root]; r == nil || r.deleted {
				return
			}
			owner.h.counters.queueReady.Add(1)
			owner.call("proxy_on_queue_ready", owner.f.onQueueReady, nil, root, uint64(root), uint64(token))
		})
	}
	return StatusOK
}

// ---------------------------------------------------------------------------
// metrics (Envoy: one stat per name in the store, shared by every VM; ids
// per VM with the type in the low two bits)

func (inst *instance) hDefineMetric(mod api.Module, st []uint64) Status {
	t := MetricType(u32(st, 0))
	name, ok := view(mod, u32(st, 1), u32(st, 2))
	if !ok {
		return StatusInvalidMemoryAccess
	}
	if t > MetricHistogram {
		return StatusBadArgument
	}
	m := inst.h.metrics.getOrCreate(t, string(name))
	id := inst.nextMetric[t]
	inst.nextMetric[t] += metricIDIncrement
	inst.metricIDs[id] = m
	if !putU32(mod, u32(st, 3), id) {
		return StatusInvalidMemoryAccess
	}
	return StatusOK
}

func (inst *instance) hIncrementMetric(mod api.Module, st []uint64) Status {
	id, offset := u32(st, 0), int64(st[1])
	switch MetricType(id & metricTypeMask) {
	case MetricCounter:
		m := inst.metricIDs[id]
		if m == nil {
			return StatusNotFound
		}
		if offset <= 0 {
			return StatusBadArgument
		}
		m.val.Add(uint64(offset))
		return StatusOK
	case MetricGauge:
		m := inst.metricIDs[id]
		if m == nil {
			return StatusNotFound
		}
		m.val.Add(uint64(offset)) // two's complement: a negative offset subtracts
		return StatusOK
	}
	return StatusBadArgument
}

func (inst *instance) hRecordMetric(mod api.Module, st []uint64) Status {
	id, value := u32(st, 0), st[1]
	m := inst.metricIDs[id]
	if m == nil {
		return StatusNotFound
	}
	switch m.typ {
	case MetricCounter:
		m.val.Add(value)
	case MetricGauge:
		m.val.Store(value)
	case MetricHistogram:
		m.record(value)
	}
	return StatusOK
}

func (inst *instance) hGetMetric(mod api.Module, st []uint64) Status {
	id := u32(st, 0)
	switch MetricType(id & metricTypeMask) {
	case MetricCounter, MetricGauge:
		m := inst.metricIDs[id]
		if m == nil {
			return StatusNotFound
		}
		if !mod.Memory().WriteUint64Le(u32(st, 1), m.val.Load()) {
			return StatusInvalidMemoryAccess
		}
		return StatusOK
	}
	return StatusBadArgument
}
