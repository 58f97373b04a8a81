package metricdef

import "strings"

// Label (Envoy tag) names.
const (
	LabelPolicy = "policy" // the policy's name: every family has it
	LabelReason = "reason" // a rejection reason (filter/config.Reasons)
	LabelLimit  = "limit"  // a rate limit's name
	LabelTo     = "to"     // the state a circuit breaker entered
)

// Tag is one Envoy tag specifier (config.metrics.v3.TagSpecifier with a
// regex): the first capture group of Regex is removed from the stat name,
// the second is the value of the tag Name.
type Tag struct {
	Name  string
	Regex string
}

// Tags are the tag specifiers that extract every label the plugin writes,
// in the order Envoy's bootstrap lists them (Envoy writes a stat's labels in
// that order). Each regex has the shape Istio generates for an
// extraStatTags entry.
var Tags = []Tag{
	{LabelPolicy, segmentRegex(LabelPolicy)},
	{LabelReason, segmentRegex(LabelReason)},
	{LabelLimit, segmentRegex(LabelLimit)},
	{LabelTo, segmentRegex(LabelTo)},
}

func segmentRegex(name string) string { return `(` + name + `=\.=(.*?);\.;)` }

// Type is a metric type.
type Type string

// Metric types, as the Prometheus text format names them.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Family names: what follows the namespace once the labels are extracted
// (breakwater_ + the family in Prometheus with the default namespace).
const (
	RequestsTotal                  = "requests_total"
	RejectedTotal                  = "rejected_total"
	FallbackServedTotal            = "fallback_served_total"
	RateLimitLimitedTotal          = "rate_limit_limited_total"
	RateLimitServiceFailuresTotal  = "rate_limit_service_failures_total"
	CircuitBreakerState            = "circuit_breaker_state"
	CircuitBreakerTransitionsTotal = "circuit_breaker_transitions_total"
	BulkheadActive                 = "bulkhead_active"
	BulkheadQueued                 = "bulkhead_queued"
	BulkheadMaxConcurrent          = "bulkhead_max_concurrent"
	BulkheadQueueMaxSize           = "bulkhead_queue_max_size"
	RetryBudgetExhaustedTotal      = "retry_budget_exhausted_total"
	TimeoutEffective               = "timeout_effective"
	TimeoutDeadlineInvalidTotal    = "timeout_deadline_invalid_total"
	FaultAbortedTotal              = "fault_aborted_total"
	FaultDelayedTotal              = "fault_delayed_total"
	DeadLetterRecordedTotal        = "dead_letter_recorded_total"
	DeadLetterSentTotal            = "dead_letter_sent_total"
	DeadLetterFailedTotal          = "dead_letter_failed_total"
	DeadLetterTruncatedTotal       = "dead_letter_truncated_total"
	DeadLetterDroppedTotal         = "dead_letter_dropped_total"
)

// Family is one exported metric family.
type Family struct {
	Name   string   // family name after the namespace
	Type   Type     // counter, gauge or histogram
	Labels []string // label names, policy first
	Help   string   // what it counts (the README's metrics table)
}

// Families lists every family the plugin defines. A policy defines the
// families of the patterns it configures, each with its labels' values
// known at start (the reasons, its limits, the breaker states).
var Families = []Family{
	{RequestsTotal, Counter, []string{LabelPolicy}, "requests matched by the policy"},
	{RejectedTotal, Counter, []string{LabelPolicy, LabelReason}, "local rejections, per reason"},
	{FallbackServedTotal, Counter, []string{LabelPolicy}, "rejections answered by the fallback"},
	{RateLimitLimitedTotal, Counter, []string{LabelPolicy, LabelLimit}, "requests rejected by that limit"},
	{RateLimitServiceFailuresTotal, Counter, []string{LabelPolicy}, "calls to the rate limit service that failed (no answer, error status, unreadable answer)"},
	{CircuitBreakerState, Gauge, []string{LabelPolicy}, "0 closed, 1 open, 2 half-open (of the last key that moved)"},
	{CircuitBreakerTransitionsTotal, Counter, []string{LabelPolicy, LabelTo}, "breaker state transitions, per state entered (closed, open, half_open)"},
	{BulkheadActive, Gauge, []string{LabelPolicy}, "requests holding a slot (summed over keys for a keyed bulkhead)"},
	{BulkheadQueued, Gauge, []string{LabelPolicy}, "requests waiting in the queue (summed over keys for a keyed bulkhead)"},
	{BulkheadMaxConcurrent, Gauge, []string{LabelPolicy}, "the bulkhead's max_concurrent (per key for a keyed bulkhead)"},
	{BulkheadQueueMaxSize, Gauge, []string{LabelPolicy}, "the bulkhead's queue.max_size, 0 without a queue (per key for a keyed bulkhead)"},
	{RetryBudgetExhaustedTotal, Counter, []string{LabelPolicy}, "requests given fewer retries than max_retries (budget spent, or breaker half-open)"},
	{TimeoutEffective, Histogram, []string{LabelPolicy}, "upstream timeouts set, in milliseconds"},
	{TimeoutDeadlineInvalidTotal, Counter, []string{LabelPolicy}, "caller budget headers (grpc-timeout, x-envoy-expected-rq-timeout-ms) that could not be used: ignored"},
	{FaultAbortedTotal, Counter, []string{LabelPolicy}, "requests aborted by fault injection"},
	{FaultDelayedTotal, Counter, []string{LabelPolicy}, "requests delayed by fault injection"},
	{DeadLetterRecordedTotal, Counter, []string{LabelPolicy}, "records made (requests that failed for good with a qualifying method and reason)"},
	{DeadLetterSentTotal, Counter, []string{LabelPolicy}, "records the sink answered 2xx"},
	{DeadLetterFailedTotal, Counter, []string{LabelPolicy}, "records whose send failed (no answer, timeout, non-2xx, unknown cluster): lost"},
	{DeadLetterTruncatedTotal, Counter, []string{LabelPolicy}, "records made without their body"},
	{DeadLetterDroppedTotal, Counter, []string{LabelPolicy}, "records dropped because the VM already had too many records in flight: lost"},
}

// Lookup returns the family named name.
func Lookup(name string) (Family, bool) {
	for _, f := range Families {
		if f.Name == name {
			return f, true
		}
	}
	return Family{}, false
}

// Name is the stat name the plugin defines for family in namespace ns for
// policy, with further labels as name, value pairs:
//
//	Name("breakwater", RejectedTotal, "orders", LabelReason, "rate_limited")
//	  = "breakwater.policy=.=orders;.;reason=.=rate_limited;.;rejected_total"
//
// An odd trailing element of labels is ignored.
func Name(ns, family, policy string, labels ...string) string {
	var b strings.Builder
	b.Grow(len(ns) + len(family) + len(policy) + 16 + 16*len(labels))
	b.WriteString(ns)
	b.WriteByte('.')
	segment(&b, LabelPolicy, policy)
	for i := 0; i+1 < len(labels); i += 2 {
		segment(&b, labels[i], labels[i+1])
	}
	b.WriteString(family)
	return b.String()
}

func segment(b *strings.Builder, name, value string) {
	b.WriteString(name)
	b.WriteString("=.=")
	b.WriteString(value)
	b.WriteString(";.;")
}

// PrometheusName is the family's name in Prometheus for namespace ns: the
// name Envoy exports once the labels are extracted, "wasmcustom." stripped
// and every character outside [a-zA-Z0-9_] replaced by '_'.
func PrometheusName(ns, family string) string {
	b := []byte(ns + "_" + family)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}
