//go:build wasip1 && breakwater_bridge

// This file is the one piece of code Breakwater adds to the proxy-wasm Go SDK
// (github.com/tetratelabs/proxy-wasm-go-sdk v0.24.0). The SDK targets TinyGo:
// its ABI functions carry TinyGo's //export, which the standard Go toolchain
// ignores, and without TinyGo its host calls go through the ProxyWasmHost
// interface held in the package variable currentHost.
//
// `make build` copies the SDK out of the module cache into build/sdk (never
// committed), drops this file into build/sdk/proxywasm/internal as
// zz_breakwater_bridge.go and builds the plugin with -tags breakwater_bridge
// against that copy. The file then:
//
//  1. exports every proxy_on_* callback of the SDK's internal package, and
//     proxy_abi_version_0_2_0, with //go:wasmexport, converting the ABI's i32
//     values to the Go int/bool types the SDK uses;
//  2. implements every ProxyWasmHost method with //go:wasmimport env proxy_*,
//     converting Go ints (64-bit on GOARCH=wasm) to i32 and reading the 32-bit
//     pointers the host writes into uint32 slots;
//  3. installs that implementation as currentHost in init(). The build script
//     also rewrites the SDK's host-call functions (abi_hostcalls_mock.go) to
//     call wasmHost{} directly: through the interface every result slot they
//     pass escaped to the heap, one to three allocations per host call.
//
// The build copy's serde.go (header-map codec) is replaced by serde.go of
// this directory.
//
// HTTP contexts are kept in the bridge's own table (httpTab, see "HTTP
// contexts" below) instead of the SDK's maps (httpContexts,
// contextIDToRootID): the HTTP callbacks are dispatched here, and the SDK's
// handlers only see plugin and TCP contexts. The build script makes the
// SDK's registerHttpCallOut take an HTTP context's root from the table
// (bwRootID) and proxyOnHttpCallResponse ask the table whether the caller
// is still there (bwAlive). At proxy_on_delete the plugin is told that the
// host names an HTTP context no more (HttpContextDeleted: the filter then
// reuses it for a later stream).
//
// Memory the host fills (proxy_get_*, dequeue, buffers, foreign functions) is
// allocated through proxy_on_memory_allocate, from a per-VM chunk (see
// chunkSize). Until the host call returns nothing in Go references such a
// piece but its chunk (or `pinned`), which keeps it alive until the bridge
// has turned the host-written pointer back into a Go pointer.
package internal

// The SDK's go.mod says go 1.19: this file keeps to that language version.

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func init() { currentHost = wasmHost{} }

// ---- memory ---------------------------------------------------------------

// Memory the host fills is carved from a per-VM chunk (consecutive,
// 8-byte aligned pieces; a piece is never handed out twice, so a view the
// SDK returns stays valid for as long as it is referenced, and keeps its
// chunk alive). A new chunk is allocated when the current one cannot hold
// the request; a request larger than chunkSize/4 gets its own buffer. This
// replaces one `make` per host copy by one per chunkSize bytes of copies.
const chunkSize = 4096

var (
	// chunk is the current chunk; used bytes of it are handed out.
	chunk []byte
	used  int
	// pinned holds the buffers handed to the host during the current host
	// call that chunk does not reference (large ones, a retired chunk).
	pinned [][]byte
)

//go:wasmexport proxy_on_memory_allocate
func bwOnMemoryAllocate(size uint32) unsafe.Pointer {
	n := int(size)
	if n == 0 {
		n = 1 // the SDK's allocator indexes buf[0]; never hand out a nil pointer
	}
	if n > chunkSize/4 {
		buf := make([]byte, n)
		pinned = append(pinned, buf)
		return unsafe.Pointer(&buf[0])
	}
	if len(chunk)-used < n {
		if chunk != nil {
			pinned = append(pinned, chunk) // may hold this host call's earlier pieces
		}
		chunk = make([]byte, chunkSize)
		used = 0
	}
	p := unsafe.Pointer(&chunk[used])
	used += (n + 7) &^ 7
	if used > len(chunk) {
		used = len(chunk)
	}
	return p
}

// unpin returns the Go pointer of the memory at the host address ptr (a
// piece of the current chunk or a pinned buffer) and forgets the pinned
// buffers (a host call is over).
func unpin(ptr uint32) *byte {
	var out *byte
	if len(chunk) > 0 {
		base := uint32(uintptr(unsafe.Pointer(&chunk[0])))
		if ptr >= base && ptr < base+uint32(len(chunk)) {
			out = &chunk[ptr-base]
		}
	}
	for _, b := range pinned {
		if out != nil {
			break
		}
		base := uint32(uintptr(unsafe.Pointer(&b[0])))
		if ptr >= base && ptr < base+uint32(len(b)) {
			out = &b[ptr-base]
		}
	}
	for i := range pinned {
		pinned[i] = nil
	}
	pinned = pinned[:0]
	return out
}

// chunkView is unpin's answer when no buffer is pinned (the usual host
// call: its copy came from the current chunk), without a call: a pointer
// into the current chunk, nil when ptr is not within it (unpin then).
func chunkView(ptr uint32) *byte {
	if len(pinned) != 0 || len(chunk) == 0 {
		return nil
	}
	base := unsafe.Pointer(&chunk[0])
	if off := ptr - uint32(uintptr(base)); off < uint32(len(chunk)) {
		return (*byte)(unsafe.Add(base, off))
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// ---- HTTP contexts ---------------------------------------------------------

// httpEntry is one HTTP context: its id (0: a free slot; the host never
// gives a context id 0), its plugin context's id and the SDK context.
type httpEntry struct {
	id, root uint32
	ctx      types.HttpContext
	_        [0]func() // not comparable: no generated equality
}

// httpTab holds the VM's HTTP contexts from proxy_on_context_create to
// proxy_on_delete: open addressing with linear probing over a power-of-two
// array at most half full, indexed by the id's low bits (the host numbers
// contexts in sequence), deletion by backward shift. It replaces the SDK's
// two map inserts, two deletes and ten lookups per stream.
var httpTab struct {
	slots []httpEntry
	n     int
}

// httpIndex returns the slot of the context id, or -1.
func httpIndex(id uint32) int {
	if len(httpTab.slots) == 0 || id == 0 {
		return -1
	}
	mask := uint32(len(httpTab.slots) - 1)
	for i := id & mask; ; i = (i + 1) & mask {
		switch httpTab.slots[i].id {
		case id:
			return int(i)
		case 0:
			return -1
		}
	}
}

func httpFind(id uint32) *httpEntry {
	if i := httpIndex(id); i >= 0 {
		return &httpTab.slots[i]
	}
	return nil
}

func httpPut(id, root uint32, ctx types.HttpContext) {
	if 2*(httpTab.n+1) > len(httpTab.slots) {
		old := httpTab.slots
		size := 16
		for size < 4*(httpTab.n+1) {
			size *= 2
		}
		httpTab.slots, httpTab.n = make([]httpEntry, size), 0
		for i := range old {
			if old[i].id != 0 {
				httpPut(old[i].id, old[i].root, old[i].ctx)
			}
		}
	}
	mask := uint32(len(httpTab.slots) - 1)
	i := id & mask
	for httpTab.slots[i].id != 0 {
		i = (i + 1) & mask
	}
	httpTab.slots[i] = httpEntry{id: id, root: root, ctx: ctx}
	httpTab.n++
}

// httpDelete removes the context id and returns it (nil if absent).
func httpDelete(id uint32) types.HttpContext {
	at := httpIndex(id)
	if at < 0 {
		return nil
	}
	if httpLast.id == id {
		httpLast = httpEntry{}
	}
	slots := httpTab.slots
	ctx := slots[at].ctx
	mask := uint32(len(slots) - 1)
	hole := uint32(at)
	// Backward shift: each later entry of the probe run whose home slot is
	// not after the hole (cyclically, up to the entry) moves into it.
	for j := (hole + 1) & mask; slots[j].id != 0; j = (j + 1) & mask {
		if home := slots[j].id & mask; (j-home)&mask >= (j-hole)&mask {
			slots[hole] = slots[j]
			hole = j
		}
	}
	slots[hole] = httpEntry{}
	httpTab.n--
	return ctx
}

// HttpContextDeleted, when set (proxywasm.SetHttpContextDeleted), is called
// with each HTTP context at its proxy_on_delete, after which the host never
// names it again.
var HttpContextDeleted func(types.HttpContext)

// bwAlive says whether a context is still there (not yet deleted): the
// build script makes proxyOnHttpCallResponse ask it, so a callout answered
// after proxy_on_delete of its caller is dropped (SDK issue 261).
func bwAlive(contextID uint32) bool {
	if httpIndex(contextID) >= 0 {
		return true
	}
	_, ok := currentState.contextIDToRootID[contextID]
	return ok
}

// bwRootID is the plugin context of a context: the table's for an HTTP
// context, else the SDK's (the build script makes registerHttpCallOut call
// it).
//
//go:noinline
func bwRootID(contextID uint32) uint32 {
	if e := httpFind(contextID); e != nil {
		return e.root
	}
	return currentState.contextIDToRootID[contextID]
}

// httpActive returns the HTTP context id and makes it the active context,
// or nil when id is not one: the stream callbacks then panic as the SDK's
// handlers do (which are no longer linked); proxy_on_log and
// proxy_on_delete pass other contexts to the SDK's.
//
// The shortcut (the context of the last callback) is inlined in the
// callbacks of every stream; httpActiveFind (called directly by the rarer
// ones: request body and trailers, response trailers) looks the table up.
func httpActive(id uint32) types.HttpContext {
	if id == httpLast.id && id != 0 {
		currentState.activeContextID = id
		return httpLast.ctx
	}
	return httpActiveFind(id)
}

//go:noinline
func httpActiveFind(id uint32) types.HttpContext {
	e := httpFind(id)
	if e == nil {
		return nil
	}
	currentState.activeContextID = id
	httpLast.id, httpLast.ctx = id, e.ctx
	return e.ctx
}

// httpLast is the context httpActive found last (a stream's callbacks come
// one after another): id 0 when none; httpDelete forgets it.
var httpLast httpEntry

// ---- callbacks (host -> plugin) -------------------------------------------

//go:wasmexport proxy_abi_version_0_2_0
func bwABIVersion() { proxyABIVersion() }

//go:wasmexport proxy_on_vm_start
func bwOnVMStart(rootID, vmConfigSize uint32) uint32 {
	return b2u(bool(proxyOnVMStart(rootID, int(vmConfigSize))))
}

//go:wasmexport proxy_on_configure
func bwOnConfigure(rootID, pluginConfigSize uint32) uint32 {
	return b2u(bool(proxyOnConfigure(rootID, int(pluginConfigSize))))
}

// rootLast is the plugin context rootFind found last (id 0: none): a VM has
// one or a few, and the host names one per new stream. The SDK
// adds a plugin context in proxyOnContextCreate and removes one in
// proxyOnDelete, both called only from bwOnContextCreate and bwOnDelete,
// which forget rootLast first.
var rootLast struct {
	id uint32
	st *pluginContextState
}

// rootFind is the SDK's plugin context id, or nil.
func rootFind(id uint32) *pluginContextState {
	if id == rootLast.id && id != 0 {
		return rootLast.st
	}
	st, ok := currentState.pluginContexts[id]
	if !ok {
		return nil
	}
	rootLast.id, rootLast.st = id, st
	return st
}

//go:wasmexport proxy_on_context_create
func bwOnContextCreate(contextID, parentID uint32) {
	if parentID != 0 {
		if httpIndex(contextID) >= 0 {
			panic("context id duplicated") // as the SDK's createHttpContext
		}
		if root := rootFind(parentID); root != nil {
			if ctx := root.context.NewHttpContext(contextID); ctx != nil {
				httpPut(contextID, parentID, ctx)
				httpLast.id, httpLast.ctx = contextID, ctx // its request headers come next
				return
			}
		}
	}
	rootLast.id, rootLast.st = 0, nil
	proxyOnContextCreate(contextID, parentID) // plugin and TCP contexts; errors
}

//go:wasmexport proxy_on_log
func bwOnLog(contextID uint32) {
	if ctx := httpActive(contextID); ctx != nil {
		ctx.OnHttpStreamDone()
		return
	}
	proxyOnLog(contextID)
}

// proxy_on_done of an HTTP context is the SDK's answer for a context that
// is no plugin context (true), without its map lookup.
//
//go:wasmexport proxy_on_done
func bwOnDone(contextID uint32) uint32 {
	if httpIndex(contextID) >= 0 {
		return 1
	}
	return b2u(proxyOnDone(contextID))
}

//go:wasmexport proxy_on_delete
func bwOnDelete(contextID uint32) {
	if ctx := httpDelete(contextID); ctx != nil {
		if HttpContextDeleted != nil {
			HttpContextDeleted(ctx) // the host names the context no more: it may be reused
		}
		return
	}
	rootLast.id, rootLast.st = 0, nil
	proxyOnDelete(contextID)
}

//go:wasmexport proxy_on_new_connection
func bwOnNewConnection(contextID uint32) uint32 { return uint32(proxyOnNewConnection(contextID)) }

//go:wasmexport proxy_on_downstream_data
func bwOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnDownstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_downstream_connection_close
func bwOnDownstreamConnectionClose(contextID, peerType uint32) {
	proxyOnDownstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_upstream_data
func bwOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(proxyOnUpstreamData(contextID, int(dataSize), endOfStream != 0))
}

//go:wasmexport proxy_on_upstream_connection_close
func bwOnUpstreamConnectionClose(contextID, peerType uint32) {
	proxyOnUpstreamConnectionClose(contextID, types.PeerType(peerType))
}

//go:wasmexport proxy_on_request_headers
func bwOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := httpActive(contextID); ctx != nil {
		return uint32(ctx.OnHttpRequestHeaders(int(numHeaders), endOfStream != 0))
	}
	panic("invalid context on proxy_on_request_headers") // as the SDK's handler
}

//go:wasmexport proxy_on_request_body
func bwOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := httpActiveFind(contextID); ctx != nil {
		return uint32(ctx.OnHttpRequestBody(int(bodySize), endOfStream != 0))
	}
	panic("invalid context on proxy_on_request_body") // as the SDK's handler
}

//go:wasmexport proxy_on_request_trailers
func bwOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := httpActiveFind(contextID); ctx != nil {
		return uint32(ctx.OnHttpRequestTrailers(int(numTrailers)))
	}
	panic("invalid context on proxy_on_request_trailers") // as the SDK's handler
}

//go:wasmexport proxy_on_response_headers
func bwOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	if ctx := httpActive(contextID); ctx != nil {
		return uint32(ctx.OnHttpResponseHeaders(int(numHeaders), endOfStream != 0))
	}
	panic("invalid context id on proxy_on_response_headers") // as the SDK's handler
}

//go:wasmexport proxy_on_response_body
func bwOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	if ctx := httpActive(contextID); ctx != nil {
		return uint32(ctx.OnHttpResponseBody(int(bodySize), endOfStream != 0))
	}
	panic("invalid context id on proxy_on_response_body") // as the SDK's handler
}

//go:wasmexport proxy_on_response_trailers
func bwOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	if ctx := httpActiveFind(contextID); ctx != nil {
		return uint32(ctx.OnHttpResponseTrailers(int(numTrailers)))
	}
	panic("invalid context id on proxy_on_response_trailers") // as the SDK's handler
}

//go:wasmexport proxy_on_http_call_response
func bwOnHttpCallResponse(rootID, calloutID, numHeaders, bodySize, numTrailers uint32) {
	proxyOnHttpCallResponse(rootID, calloutID, int(numHeaders), int(bodySize), int(numTrailers))
}

//go:wasmexport proxy_on_queue_ready
func bwOnQueueReady(rootID, queueID uint32) { proxyOnQueueReady(rootID, queueID) }

//go:wasmexport proxy_on_tick
func bwOnTick(rootID uint32) { proxyOnTick(rootID) }

// ---- host functions (plugin -> host) --------------------------------------

type ptr = unsafe.Pointer

//go:wasmimport env proxy_log
func hLog(level uint32, msg ptr, size uint32) uint32

//go:wasmimport env proxy_set_property
func hSetProperty(path ptr, pathSize uint32, value ptr, valueSize uint32) uint32

//go:wasmimport env proxy_get_property
func hGetProperty(path ptr, pathSize uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_send_local_response
func hSendLocalResponse(status uint32, details ptr, detailsSize uint32, body ptr, bodySize uint32, headers ptr, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_get_shared_data
func hGetSharedData(key ptr, keySize uint32, retData ptr, retSize ptr, retCas ptr) uint32

//go:wasmimport env proxy_set_shared_data
func hSetSharedData(key ptr, keySize uint32, value ptr, valueSize uint32, cas uint32) uint32

//go:wasmimport env proxy_register_shared_queue
func hRegisterSharedQueue(name ptr, nameSize uint32, retID ptr) uint32

//go:wasmimport env proxy_resolve_shared_queue
func hResolveSharedQueue(vmID ptr, vmIDSize uint32, name ptr, nameSize uint32, retID ptr) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func hDequeueSharedQueue(queueID uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func hEnqueueSharedQueue(queueID uint32, value ptr, valueSize uint32) uint32

//go:wasmimport env proxy_get_header_map_value
func hGetHeaderMapValue(mapType uint32, key ptr, keySize uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_add_header_map_value
func hAddHeaderMapValue(mapType uint32, key ptr, keySize uint32, value ptr, valueSize uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func hReplaceHeaderMapValue(mapType uint32, key ptr, keySize uint32, value ptr, valueSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func hRemoveHeaderMapValue(mapType uint32, key ptr, keySize uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func hGetHeaderMapPairs(mapType uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_set_header_map_pairs
func hSetHeaderMapPairs(mapType uint32, data ptr, size uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func hGetBufferBytes(bufferType uint32, start uint32, maxSize uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_set_buffer_bytes
func hSetBufferBytes(bufferType uint32, start uint32, maxSize uint32, data ptr, size uint32) uint32

//go:wasmimport env proxy_continue_stream
func hContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_close_stream
func hCloseStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func hHttpCall(upstream ptr, upstreamSize uint32, headers ptr, headersSize uint32, body ptr, bodySize uint32, trailers ptr, trailersSize uint32, timeout uint32, retCalloutID ptr) uint32

//go:wasmimport env proxy_call_foreign_function
func hCallForeignFunction(name ptr, nameSize uint32, param ptr, paramSize uint32, retData ptr, retSize ptr) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func hSetTickPeriodMilliseconds(period uint32) uint32

//go:wasmimport env proxy_set_effective_context
func hSetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_done
func hDone() uint32

//go:wasmimport env proxy_define_metric
func hDefineMetric(metricType uint32, name ptr, nameSize uint32, retID ptr) uint32

//go:wasmimport env proxy_increment_metric
func hIncrementMetric(metricID uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func hRecordMetric(metricID uint32, value uint64) uint32

//go:wasmimport env proxy_get_metric
func hGetMetric(metricID uint32, retValue ptr) uint32

// wasmHost implements ProxyWasmHost with the imports above.
type wasmHost struct{}

var _ ProxyWasmHost = wasmHost{}

// hostAddr, hostSize, hostU32 and hostU64 are the result slots the host
// writes (a returned data's address and size, a CAS, an id, a value), copied
// into the caller's: package variables, because a variable whose address
// goes to a wasmimport is moved to the heap (an allocation per slot per
// call, the SDK's too). A VM runs one host call at a time;
// proxy_on_memory_allocate, the one callback during a host call, does not
// use them.
var (
	hostAddr, hostSize, hostU32 uint32
	hostU64                     uint64
)

// out turns the (address, size) pair the host wrote into the SDK's out-params.
func out(data **byte, n *int) {
	*data = unpin(hostAddr)
	*n = int(hostSize)
	if *data == nil {
		*n = 0
	}
}

func (wasmHost) ProxyLog(level LogLevel, msg *byte, size int) Status {
	return Status(hLog(uint32(level), ptr(msg), uint32(size)))
}

func (wasmHost) ProxySetProperty(path *byte, pathSize int, value *byte, valueSize int) Status {
	return Status(hSetProperty(ptr(path), uint32(pathSize), ptr(value), uint32(valueSize)))
}

func (wasmHost) ProxyGetProperty(path *byte, pathSize int, retData **byte, retSize *int) Status {
	st := hGetProperty(ptr(path), uint32(pathSize), ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxySendLocalResponse(status uint32, details *byte, detailsSize int, body *byte, bodySize int, headers *byte, headersSize int, grpcStatus int32) Status {
	return Status(hSendLocalResponse(status, ptr(details), uint32(detailsSize), ptr(body), uint32(bodySize), ptr(headers), uint32(headersSize), grpcStatus))
}

func (wasmHost) ProxyGetSharedData(key *byte, keySize int, retData **byte, retSize *int, retCas *uint32) Status {
	st := hGetSharedData(ptr(key), uint32(keySize), ptr(&hostAddr), ptr(&hostSize), ptr(&hostU32))
	*retCas = hostU32
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxySetSharedData(key *byte, keySize int, value *byte, valueSize int, cas uint32) Status {
	return Status(hSetSharedData(ptr(key), uint32(keySize), ptr(value), uint32(valueSize), cas))
}

func (wasmHost) ProxyRegisterSharedQueue(name *byte, nameSize int, retID *uint32) Status {
	st := hRegisterSharedQueue(ptr(name), uint32(nameSize), ptr(&hostU32))
	*retID = hostU32
	return Status(st)
}

func (wasmHost) ProxyResolveSharedQueue(vmID *byte, vmIDSize int, name *byte, nameSize int, retID *uint32) Status {
	st := hResolveSharedQueue(ptr(vmID), uint32(vmIDSize), ptr(name), uint32(nameSize), ptr(&hostU32))
	*retID = hostU32
	return Status(st)
}

func (wasmHost) ProxyDequeueSharedQueue(queueID uint32, retData **byte, retSize *int) Status {
	st := hDequeueSharedQueue(queueID, ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxyEnqueueSharedQueue(queueID uint32, value *byte, valueSize int) Status {
	return Status(hEnqueueSharedQueue(queueID, ptr(value), uint32(valueSize)))
}

func (wasmHost) ProxyGetHeaderMapValue(mapType MapType, key *byte, keySize int, retData **byte, retSize *int) Status {
	st := hGetHeaderMapValue(uint32(mapType), ptr(key), uint32(keySize), ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxyAddHeaderMapValue(mapType MapType, key *byte, keySize int, value *byte, valueSize int) Status {
	return Status(hAddHeaderMapValue(uint32(mapType), ptr(key), uint32(keySize), ptr(value), uint32(valueSize)))
}

func (wasmHost) ProxyReplaceHeaderMapValue(mapType MapType, key *byte, keySize int, value *byte, valueSize int) Status {
	return Status(hReplaceHeaderMapValue(uint32(mapType), ptr(key), uint32(keySize), ptr(value), uint32(valueSize)))
}

func (wasmHost) ProxyContinueStream(streamType StreamType) Status {
	return Status(hContinueStream(uint32(streamType)))
}

func (wasmHost) ProxyCloseStream(streamType StreamType) Status {
	return Status(hCloseStream(uint32(streamType)))
}

func (wasmHost) ProxyRemoveHeaderMapValue(mapType MapType, key *byte, keySize int) Status {
	return Status(hRemoveHeaderMapValue(uint32(mapType), ptr(key), uint32(keySize)))
}

func (wasmHost) ProxyGetHeaderMapPairs(mapType MapType, retData **byte, retSize *int) Status {
	st := hGetHeaderMapPairs(uint32(mapType), ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

// HeadersWire is proxy_get_header_map_pairs of a header map, what
// ProxyGetHeaderMapPairs and out do in one function (Breakwater's request
// and response sides call it, once a callback): their encoding, a view of
// the host's copy, or nil when the call failed or returned nothing.
func HeadersWire(mapType MapType) []byte {
	st := hGetHeaderMapPairs(uint32(mapType), ptr(&hostAddr), ptr(&hostSize))
	p := chunkView(hostAddr)
	if p == nil {
		p = unpin(hostAddr)
	}
	if st != uint32(StatusOK) || p == nil {
		return nil
	}
	return RawBytePtrToByteSlice(p, int(hostSize)) // no unsafe.Slice length checks
}

// ResponseHeaderValue is proxy_get_header_map_value of a response header,
// what ProxyGetHeaderMapValue, out and the SDK's getMapValue do in one
// function (only Breakwater's response side calls it): the value, a view of
// the host's copy; false when the call failed.
func ResponseHeaderValue(key string) (string, bool) {
	key0 := *(*ptr)(unsafe.Pointer(&key)) // the string's data (StringBytePtr without its checks)
	st := hGetHeaderMapValue(uint32(MapTypeHttpResponseHeaders), key0, uint32(len(key)), ptr(&hostAddr), ptr(&hostSize))
	p := chunkView(hostAddr)
	if p == nil {
		p = unpin(hostAddr)
	}
	if st != uint32(StatusOK) {
		return "", false
	}
	if p == nil {
		return "", true
	}
	return RawBytePtrToString(p, int(hostSize)), true
}

func (wasmHost) ProxySetHeaderMapPairs(mapType MapType, data *byte, size int) Status {
	return Status(hSetHeaderMapPairs(uint32(mapType), ptr(data), uint32(size)))
}

func (wasmHost) ProxyGetBufferBytes(bufferType BufferType, start int, maxSize int, retData **byte, retSize *int) Status {
	st := hGetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxySetBufferBytes(bufferType BufferType, start int, maxSize int, data *byte, size int) Status {
	return Status(hSetBufferBytes(uint32(bufferType), uint32(start), uint32(maxSize), ptr(data), uint32(size)))
}

func (wasmHost) ProxyHttpCall(upstream *byte, upstreamSize int, headers *byte, headersSize int, body *byte, bodySize int, trailers *byte, trailersSize int, timeout uint32, retCalloutID *uint32) Status {
	st := hHttpCall(ptr(upstream), uint32(upstreamSize), ptr(headers), uint32(headersSize), ptr(body), uint32(bodySize), ptr(trailers), uint32(trailersSize), timeout, ptr(&hostU32))
	*retCalloutID = hostU32
	return Status(st)
}

func (wasmHost) ProxyCallForeignFunction(name *byte, nameSize int, param *byte, paramSize int, retData **byte, retSize *int) Status {
	st := hCallForeignFunction(ptr(name), uint32(nameSize), ptr(param), uint32(paramSize), ptr(&hostAddr), ptr(&hostSize))
	out(retData, retSize)
	return Status(st)
}

func (wasmHost) ProxySetTickPeriodMilliseconds(period uint32) Status {
	return Status(hSetTickPeriodMilliseconds(period))
}

func (wasmHost) ProxySetEffectiveContext(contextID uint32) Status {
	return Status(hSetEffectiveContext(contextID))
}

func (wasmHost) ProxyDone() Status { return Status(hDone()) }

func (wasmHost) ProxyDefineMetric(metricType MetricType, name *byte, nameSize int, retID *uint32) Status {
	st := hDefineMetric(uint32(metricType), ptr(name), uint32(nameSize), ptr(&hostU32))
	*retID = hostU32
	return Status(st)
}

func (wasmHost) ProxyIncrementMetric(metricID uint32, offset int64) Status {
	return Status(hIncrementMetric(metricID, offset))
}

func (wasmHost) ProxyRecordMetric(metricID uint32, value uint64) Status {
	return Status(hRecordMetric(metricID, value))
}

func (wasmHost) ProxyGetMetric(metricID uint32, retValue *uint64) Status {
	st := hGetMetric(metricID, ptr(&hostU64))
	*retValue = hostU64
	return Status(st)
}
