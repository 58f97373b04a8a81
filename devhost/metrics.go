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
// like one Envoy stat in the store. Its tags are extracted when it is
// created, as Envoy does.
type metric struct {
	typ    MetricType
	name   string
	family string        // tag-extracted name without the wasmcustom namespace
	labels []Label       // extracted tags
	prom   string        // /stats/prometheus family name; "" when not exported
	val    atomic.Uint64 // counter / gauge

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
	tags  []tagExtractor
}

type metricKey struct {
	typ  MetricType
	name string
}

func newMetricRegistry(tags []tagExtractor) *metricRegistry {
	return &metricRegistry{byKey: map[metricKey]*metric{}, tags: tags}
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
		extracted, labels := extractTags(customStatNamespace+"."+name, r.tags)
		m.labels = labels
		if fam, ok := strings.CutPrefix(extracted, customStatNamespace+"."); ok {
			m.family = fam
			m.prom, _ = PrometheusName(fam)
		} else {
			// An extractor removed part of the namespace: Envoy then
			// treats the stat as one of its own ("envoy_" prefix).
			m.family = extracted
			m.prom = "envoy_" + sanitizeName(extracted)
		}
		r.byKey[k] = m
	}
	return m
}

// MetricValue is a snapshot of one plugin-defined stat.
type MetricValue struct {
	Name string // as defined by the plugin, without the wasmcustom namespace
	// Family is Name once the Options.StatsTags are extracted, and Labels
	// the extracted tags in extractor order. PrometheusFamily is the name
	// /stats/prometheus exports it under ("" when not exported).
	Family           string
	Labels           []Label
	PrometheusFamily string
	Type             MetricType
	Value            uint64 // counter and gauge
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
		v := MetricValue{Name: m.name, Family: m.family, Labels: m.labels, PrometheusFamily: m.prom, Type: m.typ}
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
//
// With tag extraction, name is the tag-extracted name (MetricValue.Family).
func PrometheusName(name string) (string, bool) {
	s := sanitizeName(name)
	if len(s) == 0 || s[0] >= '0' && s[0] <= '9' {
		return "", false
	}
	return s, true
}

// sanitizeName replaces every character outside [a-zA-Z0-9_] with '_'
// (Envoy's PrometheusStatsFormatter::sanitizeName), for metric and label
// names.
func sanitizeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// labelValue escapes a label value as Envoy's sanitizeValue does: backslash,
// double quote and newline.
func labelValue(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// formatLabels writes the labels in exposition syntax without braces.
func formatLabels(ls []Label) string {
	var sb strings.Builder
	for i, l := range ls {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(sanitizeName(l.Name))
		sb.WriteString(`="`)
		sb.WriteString(labelValue(l.Value))
		sb.WriteByte('"')
	}
	return sb.String()
}

func formatFloat(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writePrometheus writes Envoy's text exposition of the plugin stats: one
// "# TYPE name counter|gauge|histogram" line per family (the tag-extracted
// name), then its samples with the extracted tags as labels in extractor
// order ("name{} 5" when a stat has none, as Envoy writes it); histograms
// as cumulative name_bucket{...,le="..."} lines, name_sum and name_count.
// Envoy writes no # HELP lines. Families are sorted by name, samples by
// labels.
func writePrometheus(w io.Writer, vals []MetricValue) error {
	type sample struct {
		labels string
		v      MetricValue
	}
	type fam struct {
		name    string
		typ     MetricType
		samples []sample
		seen    map[string]bool
	}
	byName := map[string]*fam{}
	var fams []*fam
	for _, v := range vals {
		if v.PrometheusFamily == "" {
			continue
		}
		f := byName[v.PrometheusFamily]
		if f == nil {
			f = &fam{name: v.PrometheusFamily, typ: v.Type, seen: map[string]bool{}}
			byName[f.name] = f
			fams = append(fams, f)
		}
		ls := formatLabels(v.Labels)
		if f.typ != v.Type || f.seen[ls] {
			continue // a family has one type and one sample per label set; keep the first
		}
		f.seen[ls] = true
		f.samples = append(f.samples, sample{ls, v})
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	var sb strings.Builder
	for _, f := range fams {
		sort.Slice(f.samples, func(i, j int) bool { return f.samples[i].labels < f.samples[j].labels })
		fmt.Fprintf(&sb, "# TYPE %s %s\n", f.name, f.typ)
		for _, s := range f.samples {
			switch f.typ {
			case MetricCounter, MetricGauge:
				fmt.Fprintf(&sb, "%s{%s} %d\n", f.name, s.labels, s.v.Value)
			case MetricHistogram:
				sep := ""
				if s.labels != "" {
					sep = ","
				}
				for i, b := range histogramBuckets {
					fmt.Fprintf(&sb, "%s_bucket{%s%sle=\"%s\"} %d\n", f.name, s.labels, sep, formatFloat(b), s.v.Buckets[i])
				}
				fmt.Fprintf(&sb, "%s_bucket{%s%sle=\"+Inf\"} %d\n", f.name, s.labels, sep, s.v.Count)
				fmt.Fprintf(&sb, "%s_sum{%s} %s\n", f.name, s.labels, formatFloat(s.v.Sum))
				fmt.Fprintf(&sb, "%s_count{%s} %d\n", f.name, s.labels, s.v.Count)
			}
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
