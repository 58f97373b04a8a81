package devhost

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MetricType is the ABI's metric type.
type MetricType uint32

// Metric types of the ABI.
const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)

func (t MetricType) String() string {
	switch t {
	case MetricCounter:
		return "counter"
	case MetricGauge:
		return "gauge"
	case MetricHistogram:
		return "histogram"
	}
	return "unknown"
}

// Envoy keeps the metric type in the low bits of a metric id
// (Wasm::kMetricTypeMask) and hands out ids per type in steps of 4
// (kMetricIdIncrement), counters from 0, gauges from 1, histograms from 2.
const (
	metricTypeMask    = 0x3
	metricIDIncrement = 0x4
)

// customStatNamespace is the prefix Envoy gives every stat a Wasm module
// defines. /stats shows it; /stats/prometheus strips it (and does NOT add
// the "envoy_" prefix native stats get): Envoy's
// PrometheusStatsFormatter::metricName with CustomStatNamespaces.
const customStatNamespace = "wasmcustom"

// histogramBuckets are Envoy's default histogram bucket bounds
// (Stats::HistogramSettingsImpl::defaultBuckets).
var histogramBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
	30000, 60000, 300000, 600000, 1800000, 3600000}

// metric is one stat, shared by every VM that defines the same (type, name),
// like one Envoy stat in the store.
type metric struct {
	typ  MetricType
	name string
	val  atomic.Uint64 // counter / gauge

	hmu     sync.Mutex
	buckets []uint64 // per bound, non-cumulative; last is overflow
	count   uint64
	sum     float64
}

func (m *metric) record(v uint64) {
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if m.buckets == nil {
		m.buckets = make([]uint64, len(histogramBuckets)+1)
	}
	i := sort.SearchFloat64s(histogramBuckets, float64(v))
	m.buckets[i]++
	m.count++
	m.sum += float64(v)
}

type metricRegistry struct {
	mu    sync.RWMutex
	byKey map[metricKey]*metric
}

type metricKey struct {
	typ  MetricType
	name string
}

func newMetricRegistry() *metricRegistry {
	return &metricRegistry{byKey: map[metricKey]*metric{}}
}

func (r *metricRegistry) getOrCreate(t MetricType, name string) *metric {
	k := metricKey{t, name}
	r.mu.RLock()
	m := r.byKey[k]
	r.mu.RUnlock()
	if m != nil {
		return m
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m = r.byKey[k]; m == nil {
		m = &metric{typ: t, name: name}
		r.byKey[k] = m
	}
	return m
}

// MetricValue is a snapshot of one plugin-defined stat.
type MetricValue struct {
	Name  string // as defined by the plugin, without the wasmcustom namespace
	Type  MetricType
	Value uint64 // counter and gauge
	// Histogram: per bucket upper bound (HistogramBounds), cumulative counts,
	// plus count and sum of recorded values.
	Buckets []uint64
	Count   uint64
	Sum     float64
}

// HistogramBounds returns Envoy's default bucket bounds used by histograms.
func HistogramBounds() []float64 { return append([]float64(nil), histogramBuckets...) }

func (r *metricRegistry) snapshot() []MetricValue {
	r.mu.RLock()
	ms := make([]*metric, 0, len(r.byKey))
	for _, m := range r.byKey {
		ms = append(ms, m)
	}
	r.mu.RUnlock()
	out := make([]MetricValue, 0, len(ms))
	for _, m := range ms {
		v := MetricValue{Name: m.name, Type: m.typ}
		if m.typ == MetricHistogram {
			m.hmu.Lock()
			v.Count, v.Sum = m.count, m.sum
			v.Buckets = make([]uint64, len(histogramBuckets))
			var cum uint64
			for i := range histogramBuckets {
				if m.buckets != nil {
					cum += m.buckets[i]
				}
				v.Buckets[i] = cum
			}
			m.hmu.Unlock()
		} else {
			v.Value = m.val.Load()
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Type < out[j].Type
	})
	return out
}

// PrometheusName is the name Envoy's /stats/prometheus gives a stat that a
// Wasm plugin defined as name: the wasmcustom namespace is stripped, every
// character outside [a-zA-Z0-9_] becomes '_', no "envoy_" prefix is added; a
// result that is empty or starts with a digit is not exported (ok false).
func PrometheusName(name string) (string, bool) {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		return "", false
	}
	return string(b), true
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writePrometheus writes Envoy's text exposition of the plugin stats:
// "# TYPE name counter|gauge|histogram", samples with an empty label set
// ("name{} 5") as Envoy writes them, histograms as cumulative
// name_bucket{le="..."} lines, name_sum{} and name_count{}.
func writePrometheus(w io.Writer, vals []MetricValue) error {
	type fam struct {
		name string
		v    MetricValue
	}
	var fams []fam
	seen := map[string]bool{}
	for _, v := range vals {
		n, ok := PrometheusName(v.Name)
		if !ok || seen[n] {
			continue // Envoy would emit a duplicate family; keep the first
		}
		seen[n] = true
		fams = append(fams, fam{n, v})
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var sb strings.Builder
	for _, f := range fams {
		switch f.v.Type {
		case MetricCounter, MetricGauge:
			fmt.Fprintf(&sb, "# TYPE %s %s\n%s{} %d\n", f.name, f.v.Type, f.name, f.v.Value)
		case MetricHistogram:
			fmt.Fprintf(&sb, "# TYPE %s histogram\n", f.name)
			for i, b := range histogramBuckets {
				fmt.Fprintf(&sb, "%s_bucket{le=\"%s\"} %d\n", f.name, formatFloat(b), f.v.Buckets[i])
			}
			fmt.Fprintf(&sb, "%s_bucket{le=\"+Inf\"} %d\n", f.name, f.v.Count)
			fmt.Fprintf(&sb, "%s_sum{} %s\n", f.name, formatFloat(f.v.Sum))
			fmt.Fprintf(&sb, "%s_count{} %d\n", f.name, f.v.Count)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// writeStatsText writes the /stats plain text: "wasmcustom.NAME: VALUE" for
// counters and gauges; for histograms Envoy's quantile line shape
// "wasmcustom.NAME: P0(..) P25(..) P50(..) P75(..) P90(..) P95(..) P99(..) P99.5(..) P99.9(..) P100(..)"
// with each quantile estimated from the buckets (bucket upper bound), then
// the dev host's own "devhost.*" counters.
func writeStatsText(w io.Writer, vals []MetricValue, own []ownStat) error {
	var sb strings.Builder
	for _, v := range vals {
		name := customStatNamespace + "." + v.Name
		switch v.Type {
		case MetricCounter, MetricGauge:
			fmt.Fprintf(&sb, "%s: %d\n", name, v.Value)
		case MetricHistogram:
			if v.Count == 0 {
				fmt.Fprintf(&sb, "%s: No recorded values\n", name)
				continue
			}
			fmt.Fprintf(&sb, "%s:", name)
			for _, q := range []float64{0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1} {
				est := bucketQuantile(v, q)
				fmt.Fprintf(&sb, " P%s(%s,%s)", formatFloat(q*100), est, est)
			}
			sb.WriteString("\n")
		}
	}
	for _, s := range own {
		fmt.Fprintf(&sb, "%s: %d\n", s.name, s.value)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func bucketQuantile(v MetricValue, q float64) string {
	rank := uint64(math.Ceil(q * float64(v.Count)))
	if rank == 0 {
		rank = 1
	}
	for i, c := range v.Buckets {
		if c >= rank {
			return formatFloat(histogramBuckets[i])
		}
	}
	return "+Inf"
}

type ownStat struct {
	name  string
	value uint64
}
