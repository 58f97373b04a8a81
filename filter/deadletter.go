package filter

import (
	"encoding/binary"
	"errors"
	"strconv"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/patterns/deadletter"
)

// Dead letters (dead_letter): a request whose method is in methods is armed
// at arrival (two flags of the stream; its dlRecord is allocated only once
// there is something to keep); its body is copied as it streams
// (OnHttpRequestBody always continues: nothing is held back from the
// upstream), up to max_body_bytes, beyond which the copy is dropped and the
// record marked truncated. The outcome is noted when it is known: a rejection of the
// filter (reject) for a reason in on, or a final response that still counts
// as a failure under the policy's failure_on (the breaker's, or the default
// failure_on without a breaker) for upstream_failure. At stream end, after
// the response went to the client, a qualifying request becomes one
// envelope in the VM's outbox (at most deadletter.MaxInFlight records and
// MaxInFlightBytes in flight; above that it is dropped and counted). The
// tick sends each queued record with one proxy_http_call (POST /records on
// cluster, timeout) from the root context, so the call does not depend on
// the request's context, and is never retried: the filter's send is at most
// once. Failures are counted and logged at most once per minute per cause.
//
// Cost: when the policy has no dead_letter block, a nil or flag check in
// three callbacks; with the block, one method comparison per request, and
// the body copy and (when no other pattern reads it) the outcome read only
// for requests whose method qualifies. Measured with breakwater perf (see
// README, Dead letters).

// dlPolicy is one policy's dead_letter block with its metrics.
type dlPolicy struct {
	s                                          deadletter.Settings
	upstream                                   bool // on holds upstream_failure
	timeout                                    uint32
	recorded, sent, failed, truncated, dropped counter
}

func newDLPolicy(p *pluginContext, ns, name string, s *deadletter.Settings) *dlPolicy {
	return &dlPolicy{
		s:         *s,
		upstream:  s.Covers(deadletter.UpstreamFailure),
		timeout:   uint32(s.Timeout / time.Millisecond),
		recorded:  p.m.counter(metricdef.Name(ns, metricdef.DeadLetterRecordedTotal, name)),
		sent:      p.m.counter(metricdef.Name(ns, metricdef.DeadLetterSentTotal, name)),
		failed:    p.m.counter(metricdef.Name(ns, metricdef.DeadLetterFailedTotal, name)),
		truncated: p.m.counter(metricdef.Name(ns, metricdef.DeadLetterTruncatedTotal, name)),
		dropped:   p.m.counter(metricdef.Name(ns, metricdef.DeadLetterDroppedTotal, name)),
	}
}

// dlRecord is what a stream keeps for its dead letter, allocated on the
// first body chunk or reason.
type dlRecord struct {
	body      []byte
	tooLarge  bool // the body went over max_body_bytes: copy dropped
	reason    string
	status    int
	attempted bool // the reason is the upstream's final response
}

// rec returns the stream's record, allocating it.
func (h *httpContext) rec() *dlRecord {
	if h.dl == nil {
		h.dl = &dlRecord{}
	}
	return h.dl
}

// dlVM is the VM's dead-letter state: ids, the outbox and the log gate.
type dlVM struct {
	ids    *deadletter.IDs
	outbox deadletter.Outbox[dlOut]
	logs   deadletter.LogGate
}

// dlOut is a record waiting to be sent.
type dlOut struct {
	pol  *dlPolicy
	name string
	data []byte
}

// newDLVM makes the VM's dead-letter state: the identity is the plugin
// context's ordinal (distinct for every VM of the proxy, see nextOrdinal),
// the random part comes from the VM's source, seeded from WASI random_get
// (never the clock).
func newDLVM(p *pluginContext) *dlVM {
	return &dlVM{ids: deadletter.NewIDs(p.rnd, p.ordinal)}
}

// dlStart arms a stream for a dead letter when its method qualifies.
func (h *httpContext) dlStart(endOfStream bool) {
	if h.pol.dl.s.Records(h.req.method) {
		h.dlOn, h.dlEOS = true, endOfStream
	}
}

// OnHttpRequestBody copies the body of an armed stream as it streams. It
// always continues.
func (h *httpContext) OnHttpRequestBody(size int, endOfStream bool) (action types.Action) {
	if !h.dlOn {
		return types.ActionContinue
	}
	defer h.protect(&action)
	d := h.rec()
	if !d.tooLarge && size > 0 {
		if len(d.body)+size > h.pol.dl.s.MaxBodyBytes {
			d.tooLarge, d.body = true, nil
		} else if b, err := proxywasm.GetHttpRequestBody(0, size); err == nil {
			d.body = append(d.body, b...)
		}
	}
	if endOfStream {
		h.dlEOS = true
	}
	return types.ActionContinue
}

// dlRejected notes a rejection of the filter.
func (h *httpContext) dlRejected(reason config.Reason, status int) {
	if h.pol.dl.s.Covers(string(reason)) {
		if d := h.rec(); d.reason == "" {
			d.reason, d.status = string(reason), status
		}
	}
}

// dlFailed notes a final upstream response that counts as a failure.
func (h *httpContext) dlFailed(o outcome) {
	if d := h.rec(); d.reason == "" {
		d.reason, d.status, d.attempted = deadletter.UpstreamFailure, o.status, true
	}
}

// dlFinish turns a qualifying stream into a record in the outbox.
func (h *httpContext) dlFinish(now time.Time) {
	d, pol, vm, eos := h.dl, h.pol.dl, h.p.dlq, h.dlEOS
	h.dl, h.dlOn = nil, false
	if d == nil || d.reason == "" || vm == nil {
		return
	}
	e := deadletter.Envelope{Version: deadletter.Version, ID: vm.ids.Next(), Time: now.UTC(), Policy: h.pol.name,
		Reason: d.reason, Status: d.status, Method: h.req.method, Authority: h.req.rawAuthority(), Path: h.req.rawPath}
	if d.attempted {
		e.Attempts = 1
		if v, err := proxywasm.GetProperty([]string{"upstream", "request_attempt_count"}); err == nil && len(v) == 8 {
			e.Attempts = int(min(binary.LittleEndian.Uint64(v), deadletter.MaxAttempts))
		}
	}
	e.Headers = make([][2]string, 0, len(h.req.list()))
	for _, kv := range h.req.list() {
		if len(kv[0]) == 0 || kv[0][0] == ':' {
			continue
		}
		if pol.s.Redacts(kv[0]) {
			kv[1] = deadletter.RedactedValue
		}
		e.Headers = append(e.Headers, kv)
	}
	if d.tooLarge || !eos {
		e.Truncated = true
		pol.truncated.inc(1)
	} else {
		e.Body = d.body
	}
	e.Sanitize()
	pol.recorded.inc(1)
	data := e.Encode()
	if !vm.outbox.Add(dlOut{pol: pol, name: h.pol.name, data: data}, len(data)) {
		pol.dropped.inc(1)
		vm.log(now, "dropped", "breakwater: %s: dead_letter: %d records in flight, record %s dropped", h.pol.name, vm.outbox.InFlight(), e.ID)
	}
}

// log warns at most once per minute per cause (the callback's clock
// reading), with the number of events of the cause since the last line.
func (vm *dlVM) log(now time.Time, cause, format string, args ...any) {
	if n, ok := vm.logs.Allow(cause, now); ok {
		proxywasm.LogWarnf(format+" (%d since the last warning)", append(args, n)...)
	}
}

// send dispatches the queued records (from the tick: root context).
func (vm *dlVM) send(now time.Time) {
	for {
		out, size, ok := vm.outbox.Next()
		if !ok {
			return
		}
		headers := [][2]string{
			{":method", "POST"}, {":path", "/records"}, {":authority", out.pol.s.Cluster},
			{"content-type", "application/json"},
		}
		_, err := proxywasm.DispatchHttpCall(out.pol.s.Cluster, headers, out.data, nil, out.pol.timeout,
			func(numHeaders, _, _ int) { vm.answered(out, size, numHeaders) })
		if err != nil {
			vm.outbox.Done(size)
			out.pol.failed.inc(1)
			cause := "dispatch"
			if errors.Is(err, types.ErrorStatusBadArgument) {
				cause = "unknown cluster" // what Envoy answers for a cluster it does not know
			}
			vm.log(now, cause, "breakwater: %s: dead_letter: cannot call cluster %s (%s): %v", out.name, out.pol.s.Cluster, cause, err)
		}
	}
}

// answered counts the sink's answer: a 2xx is sent, anything else (no
// answer within the timeout, a reset, another status) failed.
func (vm *dlVM) answered(out dlOut, size, numHeaders int) {
	defer func() {
		if r := recover(); r != nil {
			proxywasm.LogErrorf("breakwater: internal error in dead_letter answer: %v", r)
		}
	}()
	vm.outbox.Done(size)
	status := ""
	if numHeaders > 0 {
		hs, err := proxywasm.GetHttpCallResponseHeaders()
		if err == nil {
			status = get(hs, ":status")
		}
	}
	if len(status) == 3 && status[0] == '2' {
		out.pol.sent.inc(1)
		return
	}
	out.pol.failed.inc(1)
	cause := "no answer"
	if status != "" {
		cause = "status " + status
	}
	if n, err := strconv.Atoi(status); err == nil && n == 504 {
		cause = "timeout"
	}
	vm.log(clock(), cause, "breakwater: %s: dead_letter: record not stored by cluster %s: %s", out.name, out.pol.s.Cluster, cause)
}
