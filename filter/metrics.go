package filter

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
)

// Metric names and labels are internal/metricdef's: one family per metric,
// the labels written into the stat name as Envoy tag segments
// (<namespace>.policy=.=<policy>;.;[<label>=.=<value>;.;]<family>) that the
// bootstrap's stats_tags extract. Envoy aggregates a stat by name across
// every VM that defines it. Every metric is defined when the plugin starts;
// a request only increments the ids resolved then.

// The SDK panics when a metric host call fails; the plugin never panics, so
// a metric is defined under guard (a metric that failed to define is a
// no-op) and updated through incMetric and recordMetric (sdkext_*.go),
// which never panic.
func guard(f func()) {
	defer func() { _ = recover() }()
	f()
}

// metric is a metric id defined when the plugin started (ok: the
// definition succeeded).
type metric struct {
	// Never compared: no equality function generated. First, since a
	// trailing zero-size field pads the struct (8 bytes more for each
	// metric held).
	_  [0]func()
	id uint32
	ok bool
}

type counter metric

func (c counter) inc(n uint64) {
	if c.ok {
		incMetric(c.id, int64(n))
	}
}

type gauge metric

// set sets the gauge: proxy_record_metric on a gauge sets its value in
// Envoy (the SDK only exposes it on histograms).
func (g gauge) set(v int64) {
	if g.ok {
		recordMetric(g.id, uint64(v))
	}
}

func (g gauge) add(v int64) {
	if g.ok {
		incMetric(g.id, v)
	}
}

type histogram metric

func (h histogram) record(v uint64) {
	if h.ok {
		recordMetric(h.id, v)
	}
}

// The kinds of metric (metrics.define).
const (
	kindCounter byte = iota
	kindGauge
	kindHistogram
)

// metrics defines metrics once per kind and name per VM.
type metrics struct {
	defined [3]map[string]metric // by kind
}

func newMetrics() *metrics {
	return &metrics{defined: [3]map[string]metric{{}, {}, {}}}
}

// define returns the metric of a kind and name, defined the first time.
func (m *metrics) define(kind byte, name string) metric {
	if v, ok := m.defined[kind][name]; ok {
		return v
	}
	var v metric
	guard(func() {
		switch kind {
		case kindCounter:
			v = metric{id: uint32(proxywasm.DefineCounterMetric(name)), ok: true}
		case kindGauge:
			v = metric{id: uint32(proxywasm.DefineGaugeMetric(name)), ok: true}
		default:
			v = metric{id: uint32(proxywasm.DefineHistogramMetric(name)), ok: true}
		}
	})
	m.defined[kind][name] = v
	return v
}

func (m *metrics) counter(name string) counter     { return counter(m.define(kindCounter, name)) }
func (m *metrics) gauge(name string) gauge         { return gauge(m.define(kindGauge, name)) }
func (m *metrics) histogram(name string) histogram { return histogram(m.define(kindHistogram, name)) }

// policyMetrics are the metrics every policy has.
type policyMetrics struct {
	requests counter
	rejected map[config.Reason]counter
	// escapedSlash counts the 400 escaped_slash answers; defined only for
	// a policy that can give them (a path condition, escaped_slashes reject).
	escapedSlash counter
}

func (m *metrics) forPolicy(ns, policy string) policyMetrics {
	p := policyMetrics{
		requests: m.counter(metricdef.Name(ns, metricdef.RequestsTotal, policy)),
		rejected: map[config.Reason]counter{},
	}
	for _, r := range config.Reasons {
		p.rejected[r] = m.counter(metricdef.Name(ns, metricdef.RejectedTotal, policy, metricdef.LabelReason, string(r)))
	}
	return p
}
