package filter

import (
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// verdict is what a stage decides about a request.
type verdict uint8

const (
	pass   verdict = iota // go on to the next stage
	reject                // a local response was sent
	wait                  // the request is paused; the stage resumes it
)

// stage is one pattern of a policy, asked in the order of docs/configuration.md.
type stage interface {
	// onRequest decides on the request. A stage that returns wait owns the
	// request until it calls h.resume (pass) or h.reject.
	onRequest(h *httpContext, now time.Time) verdict
}

// httpContext is one HTTP stream. In the .wasm build a context is reused
// for a later stream once the host deleted it (deleted): nothing
// may keep a pointer to it, or into it, past OnHttpStreamDone.
type httpContext struct {
	types.DefaultHttpContext
	id   uint32
	step int32 // index of the stage being asked
	p    *pluginContext
	pol  *policy

	arrived time.Time
	// released is when the request was let go upstream, after every wait
	// of the filter (fault delay, rate-limit service call, shaping,
	// bulkhead queue): the start of the latency the breaker's slow calls
	// and the adaptive timeout see.
	released time.Time
	req      requestInfo
	paused   bool // OnHttpRequestHeaders returned ActionPause and not resumed yet
	local    bool // the filter sent a local response
	ended    bool // finish has run
	done     bool // OnHttpStreamDone has run
	// dlOn: the policy has dead_letter and the method qualifies; dlEOS: the
	// whole request body has been seen (or there was none).
	dlOn, dlEOS bool
	// hasBudget: budget holds the caller's budget.
	hasBudget bool
	// capture: the response body is being buffered for the stale cache.
	capture bool

	// undo gives back what earlier stages took when a later one rejects
	// (a rate-limit token, a bulkhead slot): run in reverse order.
	undo []holdRec
	// respHeaders are added to the upstream response (RateLimit-*).
	respHeaders [][2]string
	// onEnd are the stages' end-of-stream hooks (release what they hold).
	onEnd []holdRec
	// b backs the lists above while a policy applies (see streamBufs).
	b      *streamBufs
	rlUsed bool // b.rlKept holds a record's checks (or b.rlHold's)
	// cb is the circuit breaker admission of the request, if any (cbVal).
	cb    *cbHold
	cbVal cbHold
	// bh is the bulkhead place of the request, if any (b.bh).
	bh *bhHold
	// budget is the caller's remaining budget at arrival (deadline).
	budget time.Duration
	// retryGranted retries were reserved in the budget at released (the
	// directive stage runs at the release).
	retryGranted int
	// upResp are the upstream response's headers while
	// on_http_response_headers runs, when it read them (upRespOK: they could
	// be read; upRespWrite: the filter's are written with them in one call),
	// as a list: natively, or decoded for the stale cache (in the .wasm
	// build their encoding is kept in the VM's resp).
	upResp                [][2]string
	upRespOK, upRespWrite bool
	// setReq are the request headers to set when it goes upstream: the
	// policy's (x-breakwater-policy), or the directive stage's (that header
	// and the router directives), never modified through it (see reqSet).
	setReq *reqSet
	// dl is the stream's dead letter in the making (dead_letter), allocated
	// only once there is something to keep (a body chunk, a reason).
	dl *dlRecord
	// staleID, staleHdrs: the cache id and the representation headers of
	// the captured body.
	staleID   string
	staleHdrs [][2]string
	// nextFree is the next context of the VM's free list (freeCtx) while
	// this one is on it.
	nextFree *httpContext
}

// protect turns a panic of a callback into an error log; the request then
// goes on untouched (fail open).
func (h *httpContext) protect(action *types.Action) {
	if r := recover(); r != nil {
		proxywasm.LogErrorf("breakwater: internal error: %v", r)
		if action != nil {
			*action = types.ActionContinue
		}
	}
}

// running is the action of a guarded callback (OnHttpRequestHeaders,
// upstreamResponse) until one of its return statements sets it. Its
// deferred guard is protect for such a callback: the action is still
// running only when no return statement ran, i.e. the callback panicked:
// only then is recover called (it would return nil otherwise, at a cost on
// every request).
const running = ^types.Action(0)

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) (action types.Action) {
	action = running
	defer func() { // the guard (see running), the deferred function itself: one call less
		if action == running {
			action = types.ActionContinue
			if r := recover(); r != nil {
				proxywasm.LogErrorf("breakwater: internal error: %v", r)
			}
		}
	}()
	// The stream block is taken once a policy applies (an unmatched
	// request holds none): until then a decode of the list (a match on a
	// header the table does not hold) gets an array of its own.
	h.req.load(&h.p.hdrTab)
	var escaped bool
	h.pol, escaped = h.p.match(&h.req)
	if h.pol == nil {
		return types.ActionContinue
	}
	if h.b == nil {
		h.b = newStreamBufs() // kept by the context (streamBufs)
	}
	h.req.dst = &h.b.hdrs
	// The clock is read where something uses the instant: a policy without
	// stages or dead letters (match only) never reads arrived or released.
	var now time.Time
	if h.pol.usesTime {
		now = clock()
		h.arrived = now // read by stages only
	}
	h.undo, h.onEnd, h.setReq = h.b.undo[:0], h.b.end[:0], &h.pol.reqSet
	if c := h.pol.m.requests; c.ok {
		incMetric(c.id, 1) // counter.inc, one call less
	}
	if escaped {
		h.rejectEscapedSlash()
		return types.ActionPause
	}
	if h.pol.dl != nil {
		h.dlStart(endOfStream)
	}
	return h.run(now)
}

// run asks the policy's stages in turn, from h.step.
func (h *httpContext) run(now time.Time) types.Action {
	for int(h.step) < len(h.pol.stages) {
		var v verdict
		// The deadline's check of its slots without a call, the directive
		// stage called directly; the rest through the interface.
		switch st := h.pol.stages[h.step].(type) {
		case *deadlineStage:
			if !st.none(&h.req) {
				v = st.onRequest(h, now)
			}
		case *directiveStage:
			v = st.onRequest(h, now)
		default:
			v = st.onRequest(h, now)
		}
		switch v {
		case reject:
			return types.ActionPause
		case wait:
			h.paused = true
			return types.ActionPause
		}
		h.step++
	}
	if len(h.undo) > 0 {
		clearHolds(h.undo)
	}
	h.undo = nil // admitted: from here on nothing is given back
	h.released = now
	h.flushRequestHeaders()
	return types.ActionContinue
}

// flushRequestHeaders writes the recorded request headers: one replace for
// one header, else the whole map in one proxy_set_header_map_pairs (the
// request's headers were read at arrival), instead of a host call each: the
// request's headers but the client's x-breakwater-* (removed at arrival) and
// those the filter replaces, then the filter's. When no request header is
// left out and the .wasm build has the headers' encoding, they are copied
// from it followed by the set's encoding (replaceHeadersBlock); otherwise a
// merged list is written.
func (h *httpContext) flushRequestHeaders() {
	rs := h.setReq
	if rs == nil {
		return
	}
	h.setReq = nil
	set := rs.pairs
	switch {
	case len(set) == 0:
		return
	case len(set) == 1:
	case h.wireIntact():
		if replaceHeadersBlock(h.req.wire, len(set), rs.enc) {
			return
		}
	case h.req.raw != nil:
		if h.writeMerged(set) {
			return
		}
	}
	for _, kv := range set { // one call each (also when a write of the map failed)
		replaceRequestHeader(kv[0], kv[1])
	}
}

// writeMerged writes the request's headers but the client's x-breakwater-*
// (removed at arrival) and those of set, then set, in one call; false when
// the host refused.
func (h *httpContext) writeMerged(set [][2]string) bool {
	// lens has bit n set when a name to set is n bytes long (bit 63: 63
	// or more): a request header of another length cannot be one of
	// them (lookup compares lengths first), so most skip the lookup.
	var lens uint64
	for i := range set {
		lens |= 1 << min(len(set[i][0]), 63)
	}
	merged := h.p.merged[:0]
	for _, kv := range h.req.list() {
		if isOwn(kv[0]) {
			continue // removed at arrival (stripOwn); only the filter's own are set
		}
		if lens&(1<<min(len(kv[0]), 63)) != 0 {
			if _, ok := lookup(set, kv[0]); ok {
				continue // replaced by the filter's value
			}
		}
		merged = append(merged, kv)
	}
	merged = append(merged, set...)
	ok := proxywasm.ReplaceHttpRequestHeaders(merged) == nil
	clear(merged) // keep no request's strings alive
	h.p.merged = merged[:0]
	return ok
}

// wireIntact says whether flushRequestHeaders can write the request's
// headers as read (their encoding, the .wasm build's) followed by the
// filter's: no client x-breakwater-* header and none of the names the
// filter sets (every name it sets is one of setNames, which load looked
// for: has&setMask).
func (h *httpContext) wireIntact() bool {
	return h.req.wire != nil && !h.req.own && h.req.tab != nil && h.req.has&setMask == 0
}

// resume continues a paused request with the next stage.
func (h *httpContext) resume(now time.Time) {
	if !h.paused || h.ended {
		return
	}
	h.paused = false
	h.step++
	if h.run(now) == types.ActionContinue {
		_ = proxywasm.ResumeHttpRequest()
	}
}

// wake is called by the tick for a request whose wait is due.
func (h *httpContext) wake(now time.Time) {
	_ = proxywasm.SetEffectiveContext(h.id)
	if w, ok := h.pol.stages[h.step].(waker); ok {
		w.wake(h, now)
		return
	}
	h.resume(now)
}

// waker is a stage that decides itself what a due wait means.
type waker interface {
	wake(h *httpContext, now time.Time)
}

func (h *httpContext) OnHttpResponseHeaders(_ int, _ bool) types.Action {
	if h.pol == nil || h.local {
		return types.ActionContinue // nothing that could panic: no recover needed
	}
	if h.pol.wantsOutcome || h.dlOn && h.pol.dl.upstream {
		return h.upstreamResponse()
	}
	// Only the filter's headers to add: one call each, or, for more than
	// two, the whole map read and written back with them in one call each
	// (readResponseHeaders, writeResponseHeaders: nothing there can panic
	// on what the host returns, so no recover is needed).
	if len(h.respHeaders) > 1 {
		h.readResponseHeaders(true)
	}
	h.writeResponseHeaders()
	return types.ActionContinue
}

// upstreamResponse reads the outcome of the upstream call, hands it to the
// policy's patterns and adds the filter's headers to the response.
func (h *httpContext) upstreamResponse() (action types.Action) {
	action = running
	defer func() { // the guard (see running), as OnHttpRequestHeaders's
		if action == running {
			action = types.ActionContinue
			if r := recover(); r != nil {
				proxywasm.LogErrorf("breakwater: internal error: %v", r)
			}
		}
	}()
	pol := h.pol
	// The fewest host calls: the headers read one by one (reads) and the
	// filter's added one by one (adds), or the whole map read with one
	// call (the outcome, the attempt count and the stale cache read it)
	// and, when that saves calls, written back with the filter's in one
	// more. A tie keeps the single calls (less guest work).
	reads, adds := 1, 1+len(h.respHeaders) // reads: :status
	if h.retryGranted > 0 {
		reads++ // x-envoy-attempt-count
	}
	if pol.stale != nil {
		reads++ // the representation headers
	}
	if reads > 1 || reads+adds > 2 {
		h.readResponseHeaders(adds > 1)
	}
	var now time.Time // read only for a pattern that uses it (see policy.respTime)
	if pol.respTime {
		now = clock()
	}
	o := outcome{status: h.responseStatus()}
	if o.status == 0 || o.status >= 500 {
		readFlags(&o, pol.failureOn, &pol.failStatus)
	} else {
		o.failure = pol.failStatus.has(pol.failureOn, o.status) // no flags below 500 (readFlags)
	}
	// The patterns that read the outcome, in the order of the stages.
	if s := pol.cbOutcome; s != nil {
		s.onOutcome(h, o.failure, &now) // reads the instant into now if it needs it
	}
	if s := pol.dirOutcome; s != nil {
		s.onOutcome(h, &o, now)
	}
	if (o.failure || pol.stale != nil) && h.afterOutcome(o, now) {
		return types.ActionPause
	}
	h.writeResponseHeaders()
	return types.ActionContinue
}

// afterOutcome notes a failure in the dead letter and replaces the failed
// response (fallback.on upstream_failure: true, the response was replaced),
// or lets the stale cache decide on capturing it.
func (h *httpContext) afterOutcome(o outcome, now time.Time) bool {
	pol := h.pol
	if h.dlOn && o.failure {
		h.dlFailed(o)
	}
	if pol.replaceFailures && o.failure {
		h.reject(now, config.ReasonUpstreamFailure, nil)
		h.dropResponseHeaders()
		return true
	}
	if pol.stale != nil {
		h.staleID, h.staleHdrs, h.capture = pol.stale.wantCapture(h, o, now)
	}
	return false
}

// responseHeader returns the first value of a header of the upstream
// response (name in lower case) with a call of its own, when the callback
// did not read the headers.
func (h *httpContext) responseHeader(name string) (string, bool) {
	return getResponseHeader(name)
}

// dropResponseHeaders forgets the response headers read for the callback
// (a list of them is in the VM's respHdrs, reused by the next response).
func (h *httpContext) dropResponseHeaders() {
	if h.upResp != nil {
		clear(h.upResp)
		h.upResp = nil
	}
	h.p.resp.drop()
	h.upRespOK, h.upRespWrite = false, false
}

// writeResponseHeaders adds x-breakwater-policy and the recorded response
// headers (RateLimit-*) to the upstream response, and forgets the headers
// read (dropResponseHeaders): with upRespWrite, the headers read at the
// start of the callback, every one kept in order, then the filter's, in one
// proxy_set_header_map_pairs (writeHeaderMap; as Envoy's add would,
// duplicates included); otherwise (or when that write fails) one add each.
func (h *httpContext) writeResponseHeaders() {
	if h.upRespWrite && h.upRespOK && h.writeHeaderMap() {
		return
	}
	if h.upRespOK || h.upResp != nil {
		h.dropResponseHeaders()
	}
	h.upRespWrite = false // nothing else was read
	addResponseHeader("x-breakwater-policy", h.pol.name)
	for _, kv := range h.respHeaders {
		addResponseHeader(kv[0], kv[1])
	}
}

func (h *httpContext) OnHttpStreamDone() {
	h.done = true
	if h.pol != nil {
		if h.finishes() {
			h.finish()
		} else {
			h.ended = true // nothing to run (finish would only set this)
		}
	}
	// Drop what the stream held of the request now (views of the host's
	// copies): the SDK keeps the context until proxy_on_delete, and some
	// hosts deliver that late (or never). The lists the stream kept in its
	// block (undo, onEnd, respHeaders, cb, bh) stay: the block goes with
	// the context (streamBufs), so nothing else writes it, and what they
	// (and setReq, the policy's) reference is the policy's or the block's;
	// NewHttpContext resets them when the context is reused.
	if len(h.req.headers) > 0 {
		clear(h.req.headers) // in the stream's block (or a list of its own)
	}
	h.req = requestInfo{}
	if h.cbVal.key != "" {
		h.cbVal.key = ""
	}
	if h.dl != nil || h.staleHdrs != nil {
		h.dl, h.staleHdrs = nil, nil
	}
}

// deleted runs at proxy_on_delete in the .wasm build (sdkext_bridge.go),
// after which the host never names the context again (a callout answered
// later is dropped by the bridge): a context whose stream ended
// (OnHttpStreamDone ran: it holds no view of the request, finish took it
// off the waiting list and the bulkhead queue) goes to the VM's free list
// (through nextFree) with its stream block, for NewHttpContext. One deleted
// before its stream ended is left to the GC.
func (h *httpContext) deleted() {
	if h.done {
		p := h.p
		h.nextFree, p.freeCtx = p.freeCtx, h
	}
}

// streamBufs backs a stream's request headers (hdrs: the array the
// headers are read into, the longest list read so far), undo and end
// records, the rate limit's kept checks and
// RateLimit-* headers, so a request of the usual policies allocates none of
// them (a longer list moves to the heap). A context takes a block when a
// policy applies to its first stream and keeps it: a deleted context goes
// to the VM's free list with its block, and the context's next stream
// (NewHttpContext) reuses both, so a stream of a reused context neither
// takes nor gives back a block, and nothing but that context's streams
// ever writes it. After OnHttpStreamDone nothing of the stream runs (a
// late callout answer sees h.ended; finish took it off the waiting list
// and the bulkhead queue). A context deleted before its stream ended is
// left to the GC with its block.
type streamBufs struct {
	hdrs [][2]string
	undo [3]holdRec
	end  [3]holdRec
	// rlKept (rlKeptLen checks, made with the block: a slice, so no
	// equality function of an array of checks is in the binary).
	rlKept []ratelimit.Check
	rlHdr  [3][2]string
	// rlHold: the rate limit's fast pass admitted the stream's request with
	// rlKept's checks, without an undo record (while the stream's rlUsed
	// is set: rollback refunds them).
	rlHold *rateLimitStage
	// rlw holds rlHdr encoded for the response's write, after
	// x-breakwater-policy (rateLimitStage.keepRateValues; in the .wasm
	// build rlHdr's Remaining and Reset values are views of its digits).
	rlw rlWire
	// bh is the bulkhead's hold of the stream (released by finish, before
	// the stream ends; release and leaveQueue drop its key).
	bh bhHold
}

// newStreamBufs is a context's stream block (streamBufs).
func newStreamBufs() *streamBufs {
	return &streamBufs{rlKept: make([]ratelimit.Check, rlKeptLen)}
}

// rlKeptLen is the number of checks a stream block keeps (streamBufs.rlKept).
const rlKeptLen = 3

// finishes says whether finish has more to do than set ended (and an
// instant to read): end hooks, a dead letter, a paused request (a rollback,
// the waiting list).
func (h *httpContext) finishes() bool {
	return !h.ended && (len(h.onEnd) > 0 || h.dlOn || h.paused)
}

// finish runs the end hooks once, whatever ended the stream, at the
// stream's end (OnHttpStreamDone); a panic of an end hook becomes an error
// log (protect: nothing else of OnHttpStreamDone can panic, so it needs no
// recover of its own).
func (h *httpContext) finish() {
	defer h.protect(nil)
	if h.ended {
		return
	}
	h.ended = true
	now := clock()
	h.p.waiting.remove(h)
	if h.paused && !h.local {
		// Reset while paused: give back what the admitted stages took.
		h.rollback(now)
	}
	for i := range h.onEnd {
		h.onEnd[i].release(h, now)
	}
	if h.dlOn {
		h.dlFinish(now)
	}
}

func (h *httpContext) rollback(now time.Time) {
	held := h.undo != nil && h.rlUsed // not admitted yet (run drops undo)
	for i := len(h.undo) - 1; i >= 0; i-- {
		h.undo[i].release(h, now)
	}
	clear(h.undo)
	h.undo = nil
	if b := h.b; held && b != nil && b.rlHold != nil {
		// The rate limit's fast pass, the first stage to hold anything,
		// gives back last.
		s := b.rlHold
		b.rlHold = nil
		s.refund(h, b.rlKept[:len(s.limits)], now)
	}
}

// holdKind says what a holdRec gives back.
type holdKind uint8

const (
	holdRefund   holdKind = iota + 1 // rate limit: refund checks
	holdBreaker                      // circuit breaker: release cbh
	holdBulkhead                     // bulkhead: release the slot of bhh
	holdQueue                        // bulkhead: leave the queue (bhh)
)

// holdRec is what one stage holds for a request and gives back on undo or
// at the end of the stream: a typed record instead of a closure, so
// registering it allocates nothing.
type holdRec struct {
	kind   holdKind
	rl     *rateLimitStage
	checks []ratelimit.Check
	cb     *breakerStage
	cbh    *cbHold
	bh     *bulkheadStage
	bhh    *bhHold
}

// clearHolds is clear(rs), field by field: the .wasm build's clear of
// memory holding pointers goes through the runtime's bulk barrier, tens of
// times dearer for a record or two.
func clearHolds(rs []holdRec) {
	for i := range rs {
		r := &rs[i]
		r.kind, r.rl, r.checks, r.cb, r.cbh, r.bh, r.bhh = 0, nil, nil, nil, nil, nil, nil
	}
}

func (r *holdRec) release(h *httpContext, now time.Time) {
	switch r.kind {
	case holdRefund:
		r.rl.refund(h, r.checks, now)
	case holdBreaker:
		r.cb.release(r.cbh, now)
	case holdBulkhead:
		r.bh.release(h, r.bhh, now)
	case holdQueue:
		r.bh.leaveQueue(r.bhh, now)
	}
}
