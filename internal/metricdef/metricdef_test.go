package metricdef

import (
	"regexp"
	"testing"
)

func TestName(t *testing.T) {
	got := Name("breakwater", RejectedTotal, "orders", LabelReason, "rate_limited")
	if want := "breakwater.policy=.=orders;.;reason=.=rate_limited;.;rejected_total"; got != want {
		t.Errorf("Name = %q, want %q", got, want)
	}
	if got := Name("ns", RequestsTotal, "p", "dangling"); got != "ns.policy=.=p;.;requests_total" {
		t.Errorf("odd label list: %q", got)
	}
	if got := PrometheusName("bw-2", RequestsTotal); got != "bw_2_requests_total" {
		t.Errorf("PrometheusName = %q", got)
	}
}

// TestFamilies: unique names in Prometheus' charset, no dot (Name's only dot
// is the namespace's), policy first, every label has a tag, every tag
// regex compiles and takes exactly its own segment.
func TestFamilies(t *testing.T) {
	tags := map[string]*regexp.Regexp{}
	for _, tg := range Tags {
		re, err := regexp.Compile(tg.Regex)
		if err != nil || re.NumSubexp() != 2 {
			t.Fatalf("tag %s: %q: %v, %d groups", tg.Name, tg.Regex, err, re.NumSubexp())
		}
		tags[tg.Name] = re
	}
	seen := map[string]bool{}
	name := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, f := range Families {
		if seen[f.Name] || !name.MatchString(f.Name) {
			t.Errorf("family %q duplicated or not [a-z][a-z0-9_]*", f.Name)
		}
		seen[f.Name] = true
		if len(f.Labels) == 0 || f.Labels[0] != LabelPolicy {
			t.Errorf("family %s: labels %v, want policy first", f.Name, f.Labels)
		}
		for _, l := range f.Labels {
			if tags[l] == nil {
				t.Errorf("family %s: label %s has no tag", f.Name, l)
			}
		}
		if f.Help == "" {
			t.Errorf("family %s: no help", f.Name)
		}
		if _, ok := Lookup(f.Name); !ok {
			t.Errorf("Lookup(%s) failed", f.Name)
		}
	}
	raw := Name("breakwater", RateLimitLimitedTotal, "orders", LabelLimit, "per-user")
	for l, want := range map[string]string{LabelPolicy: "orders", LabelLimit: "per-user"} {
		m := tags[l].FindStringSubmatch(raw)
		if m == nil || m[2] != want || m[1] != l+"=.="+want+";.;" {
			t.Errorf("tag %s on %q: %q", l, raw, m)
		}
	}
	if tags[LabelReason].MatchString(raw) || tags[LabelTo].MatchString(raw) {
		t.Errorf("a tag matched a segment %q does not have", raw)
	}
}
