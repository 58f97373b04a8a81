package devhost

import (
	"reflect"
	"strings"
	"testing"

	"github.com/breakwater/breakwater/internal/metricdef"
)

func mustTags(t *testing.T, tags ...StatsTag) []tagExtractor {
	t.Helper()
	ex, err := compileStatsTags(tags)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// TestExtractTagsEnvoyExample is the first example of Envoy's TagSpecifier
// documentation: the first group is removed, the second is the value.
func TestExtractTagsEnvoyExample(t *testing.T) {
	ex := mustTags(t, StatsTag{"envoy.cluster_name", `^cluster\.((.+?)\.)`})
	name, labels := extractTags("cluster.foo_cluster.upstream_rq_timeout", ex)
	if name != "cluster.upstream_rq_timeout" || !reflect.DeepEqual(labels, []Label{{"envoy.cluster_name", "foo_cluster"}}) {
		t.Errorf("got %q %v", name, labels)
	}
}

func TestExtractTagsSemantics(t *testing.T) {
	// Every extractor reads the original name: the second one matches the
	// same characters as the first (the docs: "the first capture group is
	// not immediately removed from the name"), and both spans are removed.
	ex := mustTags(t, StatsTag{"a", `(x=(\d+);)`}, StatsTag{"b", `(=(\d+);)`})
	name, labels := extractTags("m.x=12;rest", ex)
	if name != "m.rest" || !reflect.DeepEqual(labels, []Label{{"a", "12"}, {"b", "12"}}) {
		t.Errorf("overlap: %q %v", name, labels)
	}
	// One group: it is both the removed part and the value.
	name, labels = extractTags("m.v7.x", mustTags(t, StatsTag{"v", `(v\d)\.`}))
	if name != "m..x" || !reflect.DeepEqual(labels, []Label{{"v", "v7"}}) {
		t.Errorf("one group: %q %v", name, labels)
	}
	// No group: never a tag. Only the first match counts.
	name, labels = extractTags("m.v7.v8", mustTags(t, StatsTag{"n", `v\d`}, StatsTag{"v", `\.(v(\d))`}))
	if name != "m..v8" || !reflect.DeepEqual(labels, []Label{{"v", "7"}}) {
		t.Errorf("no group / first match: %q %v", name, labels)
	}
	// A second group that does not take part gives an empty value.
	name, labels = extractTags("m.y", mustTags(t, StatsTag{"o", `(y)|(z(q))`}))
	if name != "m." || !reflect.DeepEqual(labels, []Label{{"o", ""}}) {
		t.Errorf("optional group: %q %v", name, labels)
	}
}

func TestCompileStatsTagsErrors(t *testing.T) {
	for _, tc := range []struct {
		tags []StatsTag
		want string
	}{
		{[]StatsTag{{"", `(a)`}}, "empty tag name"},
		{[]StatsTag{{"a", `(a)`}, {"a", `(b)`}}, "specified twice"},
		{[]StatsTag{{"envoy.cluster_name", ""}}, "default tag extractors"},
		{[]StatsTag{{"a", `(`}}, "missing closing )"},
	} {
		if _, err := compileStatsTags(tc.tags); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.tags, err, tc.want)
		}
	}
}

// TestPluginStatNamesExtract runs metricdef's tags over names built by
// metricdef.Name: the policy and further labels come out, the family is
// what remains.
func TestPluginStatNamesExtract(t *testing.T) {
	var tags []StatsTag
	for _, tg := range metricdef.Tags {
		tags = append(tags, StatsTag{tg.Name, tg.Regex})
	}
	ex := mustTags(t, tags...)
	for _, tc := range []struct {
		raw    string
		family string
		labels []Label
	}{
		{metricdef.Name("breakwater", metricdef.RequestsTotal, "orders"), "breakwater.requests_total",
			[]Label{{"policy", "orders"}}},
		{metricdef.Name("bw-2", metricdef.RejectedTotal, "a_b-c", metricdef.LabelReason, "rate_limited"), "bw-2.rejected_total",
			[]Label{{"policy", "a_b-c"}, {"reason", "rate_limited"}}},
		{metricdef.Name("breakwater", metricdef.RateLimitLimitedTotal, "p", metricdef.LabelLimit, "per-user"), "breakwater.rate_limit_limited_total",
			[]Label{{"policy", "p"}, {"limit", "per-user"}}},
		{metricdef.Name("breakwater", metricdef.CircuitBreakerTransitionsTotal, "p", metricdef.LabelTo, "half_open"), "breakwater.circuit_breaker_transitions_total",
			[]Label{{"policy", "p"}, {"to", "half_open"}}},
	} {
		name, labels := extractTags(customStatNamespace+"."+tc.raw, ex)
		if name != customStatNamespace+"."+tc.family || !reflect.DeepEqual(labels, tc.labels) {
			t.Errorf("%s: %q %v, want %q %v", tc.raw, name, labels, tc.family, tc.labels)
		}
	}
}
