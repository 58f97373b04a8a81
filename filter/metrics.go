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

type counter struct {
	_  [0]func() // not comparable: no generated equality in the .wasm
	m  proxywasm.MetricCounter
	ok bool
}

func (c counter) inc(n uint64) {
	if c.ok {
		incMetric(uint32(c.m), int64(n))
	}
}

type gauge struct {
	_  [0]func() // not comparable: no generated equality in the .wasm
	m  proxywasm.MetricGauge
	ok bool
}

// set sets the gauge: proxy_record_metric on a gauge sets its value in
// Envoy (the SDK only exposes it on histograms).
func (g gauge) set(v int64) {
	if g.ok {
		recordMetric(uint32(g.m), uint64(v))
	}
}

func (g gauge) add(v int64) {
	if g.ok {
		incMetric(uint32(g.m), v)
	}
}

type histogram struct {
	_  [0]func() // not comparable: no generated equality in the .wasm
	m  proxywasm.MetricHistogram
	ok bool
}

func (h histogram) record(v uint64) {
	if h.ok {
		recordMetric(uint32(h.m), v)
	}
}

// metrics defines metrics once per name per VM.
type metrics struct {
	counters   map[string]counter
	gauges     map[string]gauge
	histograms map[string]histogram
}

func newMetrics() *metrics {
	return &metrics{counters: map[string]counter{}, gauges: map[string]gauge{}, histograms: map[string]histogram{}}
}

func (m *metrics) counter(name string) counter {
	if c, ok := m.counters[name]; ok {
		return c
	}
	var c counter
	guard(func() { c = counter{m: proxywasm.DefineCounterMetric(name), ok: true} })
	m.counters[name] = c
	return c
}

func (m *metrics) gauge(name string) gauge {
	if g, ok := m.gauges[name]; ok {
		return g
	}
	var g gauge
	guard(func() { g = gauge{m: proxywasm.DefineGaugeMetric(name), ok: true} })
	m.gauges[name] = g
	return g
}

func (m *metrics) histogram(name string) histogram {
	if h, ok := m.histograms[name]; ok {
		return h
	}
	var h histogram
	guard(func() { h = histogram{m: proxywasm.DefineHistogramMetric(name), ok: true} })
	m.histograms[name] = h
	return h
}

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
