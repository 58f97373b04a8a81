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

// httpContext is one HTTP stream.
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
	rlUsed bool // b.rlKept holds a record's checks
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
	// be read; upRespWrite: the filter's are written with them in one call).
	upResp                [][2]string
	upRespOK, upRespWrite bool
	// setReq are the request headers to set when it goes upstream.
	setReq [][2]string
	// dl is the stream's dead letter in the making (dead_letter), allocated
	// only once there is something to keep (a body chunk, a reason).
	dl *dlRecord
	// staleID, staleHdrs: the cache id and the representation headers of
	// the captured body.
	staleID   string
	staleHdrs [][2]string
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

func (h *httpContext) OnHttpRequestHeaders(_ int, endOfStream bool) (action types.Action) {
	defer h.protect(&action)
	now := clock()
	h.arrived = now
	h.req.load()
	var escaped bool
	h.pol, escaped = h.p.match(&h.req)
	if h.pol == nil {
		return types.ActionContinue
	}
	if h.b == nil {
		h.b = h.p.takeBufs()
	}
	h.undo, h.onEnd, h.setReq = h.b.undo[:0], h.b.end[:0], h.b.set[:0]
	h.pol.m.requests.inc(1)
	if escaped {
		h.rejectEscapedSlash()
		return types.ActionPause
	}
	if h.pol.dl != nil {
		h.dlStart(endOfStream)
	}
	h.setRequestHeader("x-breakwater-policy", h.pol.name)
	return h.run(now)
}

// run asks the policy's stages in turn, from h.step.
func (h *httpContext) run(now time.Time) types.Action {
	for int(h.step) < len(h.pol.stages) {
		switch h.pol.stages[h.step].onRequest(h, now) {
		case reject:
			return types.ActionPause
		case wait:
			h.paused = true
			return types.ActionPause
		}
		h.step++
	}
	clear(h.undo)
	h.undo = nil // admitted: from here on nothing is given back
	h.released = now
	h.flushRequestHeaders()
	return types.ActionContinue
}

// setRequestHeader records a request header (name in lower case) to set,
// replacing any the client sent, when the request goes upstream.
func (h *httpContext) setRequestHeader(name, value string) {
	for i := range h.setReq {
		if h.setReq[i][0] == name {
			h.setReq[i][1] = value
			return
		}
	}
	h.setReq = append(h.setReq, [2]string{name, value})
}

// flushRequestHeaders writes the recorded request headers: one replace for
// one header, else the whole map in one proxy_set_header_map_pairs (the
// request's headers were read at arrival), instead of a host call each.
func (h *httpContext) flushRequestHeaders() {
	set := h.setReq
	h.setReq = nil
	if len(set) == 1 || (len(set) > 1 && h.req.headers == nil) {
		for _, kv := range set {
			_ = proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1])
		}
		return
	}
	if len(set) == 0 {
		return
	}
	// lens has bit n set when a name to set is n bytes long (bit 63: 63 or
	// more): a request header of another length cannot be one of them
	// (lookup compares lengths first), so most skip the lookup.
	var lens uint64
	for i := range set {
		lens |= 1 << min(len(set[i][0]), 63)
	}
	merged := h.p.merged[:0]
	for _, kv := range h.req.headers {
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
	err := proxywasm.ReplaceHttpRequestHeaders(merged)
	clear(merged) // keep no request's strings alive
	h.p.merged = merged[:0]
	if err != nil {
		for _, kv := range set { // fall back to one call each
			_ = proxywasm.ReplaceHttpRequestHeader(kv[0], kv[1])
		}
	}
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

func (h *httpContext) OnHttpResponseHeaders(_ int, _ bool) (action types.Action) {
	defer h.protect(&action)
	if h.pol == nil || h.local {
		return types.ActionContinue
	}
	now := clock()
	outcome := h.pol.wantsOutcome || h.dlOn && h.pol.dl.upstream
	// The fewest host calls: the headers read one by one (reads) and the
	// filter's added one by one (adds), or the whole map read with one
	// call (the outcome, the attempt count and the stale cache read it)
	// and, when that saves calls, written back with the filter's in one
	// more. A tie keeps the single calls (less guest work).
	reads, adds := 0, 1+len(h.respHeaders)
	if outcome {
		reads = 1 // :status
		if h.retryGranted > 0 {
			reads++ // x-envoy-attempt-count
		}
		if h.pol.stale != nil {
			reads++ // the representation headers
		}
	}
	if reads > 1 || reads+adds > 2 {
		hs, err := proxywasm.GetHttpResponseHeaders()
		h.upResp, h.upRespOK, h.upRespWrite = hs, err == nil, adds > 1
		defer h.dropResponseHeaders()
	}
	if outcome {
		o := readOutcome(h)
		o.failure = failed(h.pol.failureOn, o)
		if h.dlOn && o.failure {
			h.dlFailed(o)
		}
		for _, f := range h.pol.outcome {
			f(h, o, now)
		}
		if h.pol.replaceFailures && o.failure {
			// fallback.on upstream_failure: the failed response is replaced.
			h.reject(now, config.ReasonUpstreamFailure, nil)
			return types.ActionPause
		}
		if h.pol.stale != nil {
			h.staleID, h.staleHdrs, h.capture = h.pol.stale.wantCapture(h, o, now)
		}
	}
	h.writeResponseHeaders()
	return types.ActionContinue
}

// responseHeader returns the first value of a header of the upstream
// response (name in lower case), from the list read at the start of
// on_http_response_headers when there is one.
func (h *httpContext) responseHeader(name string) (string, bool) {
	if h.upRespOK {
		return lookup(h.upResp, name)
	}
	v, err := proxywasm.GetHttpResponseHeader(name)
	return v, err == nil
}

// responseHeaders returns the upstream response's headers.
func (h *httpContext) responseHeaders() ([][2]string, error) {
	if h.upRespOK {
		return h.upResp, nil
	}
	return proxywasm.GetHttpResponseHeaders()
}

func (h *httpContext) dropResponseHeaders() { h.upResp, h.upRespOK, h.upRespWrite = nil, false, false }

// writeResponseHeaders adds x-breakwater-policy and the recorded response
// headers (RateLimit-*) to the upstream response: with upRespWrite, the
// headers read at the start of the callback, every one kept in order, then
// the filter's, in one proxy_set_header_map_pairs (as Envoy's add would,
// duplicates included); otherwise (or when that write fails) one add each.
func (h *httpContext) writeResponseHeaders() {
	if h.upRespOK && h.upRespWrite {
		merged := append(h.p.merged[:0], h.upResp...)
		merged = append(merged, [2]string{"x-breakwater-policy", h.pol.name})
		merged = append(merged, h.respHeaders...)
		err := proxywasm.ReplaceHttpResponseHeaders(merged)
		clear(merged)
		h.p.merged = merged[:0]
		if err == nil {
			return
		}
	}
	_ = proxywasm.AddHttpResponseHeader("x-breakwater-policy", h.pol.name)
	for _, kv := range h.respHeaders {
		_ = proxywasm.AddHttpResponseHeader(kv[0], kv[1])
	}
}

func (h *httpContext) OnHttpStreamDone() {
	defer h.protect(nil)
	if h.pol != nil {
		h.finish(clock())
	}
	// Drop what the stream held now: the SDK keeps the context until
	// proxy_on_delete, and some hosts deliver that late (or never).
	h.req = requestInfo{}
	clear(h.onEnd) // their holds may reference keys (undo is cleared when emptied)
	h.undo, h.onEnd, h.setReq, h.respHeaders, h.cb, h.bh, h.dl, h.staleHdrs = nil, nil, nil, nil, nil, nil, nil, nil
	h.cbVal.key = ""
	if b := h.b; b != nil {
		h.b = nil
		if h.rlUsed { // keys may be views of the request's headers
			b.rlKept, h.rlUsed = [3]ratelimit.Check{}, false
		}
		clear(b.set[:])
		b.rlHdr = [3][2]string{}
		h.p.putBufs(b)
	}
}

// streamBufs backs a stream's undo and end records, the request headers
// to set, the rate limit's kept checks and RateLimit-* headers, so a
// request of the usual policies allocates none of them (a longer list moves
// to the heap). A VM keeps the blocks of ended streams in a free list (one
// per stream it had in flight at once): a stream takes one when a policy
// applies and gives it back in OnHttpStreamDone, after which nothing of the
// stream runs (a late callout answer sees h.ended; finish took it off the
// waiting list and the bulkhead queue) and every slice into it is dropped.
type streamBufs struct {
	undo   [3]holdRec
	end    [3]holdRec
	set    [8][2]string
	rlKept [3]ratelimit.Check
	rlHdr  [3][2]string
	// bh is the bulkhead's hold of the stream (released by finish, before
	// the block goes back; release and leaveQueue drop its key).
	bh bhHold
}

func (p *pluginContext) takeBufs() *streamBufs {
	if n := len(p.freeBufs); n > 0 {
		b := p.freeBufs[n-1]
		p.freeBufs[n-1] = nil
		p.freeBufs = p.freeBufs[:n-1]
		return b
	}
	return new(streamBufs)
}

func (p *pluginContext) putBufs(b *streamBufs) { p.freeBufs = append(p.freeBufs, b) }

// finish runs the end hooks once, whatever ended the stream.
func (h *httpContext) finish(now time.Time) {
	if h.ended {
		return
	}
	h.ended = true
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
	for i := len(h.undo) - 1; i >= 0; i-- {
		h.undo[i].release(h, now)
	}
	clear(h.undo)
	h.undo = nil
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
