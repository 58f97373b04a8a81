package metricdef

import (
	"os"
	"regexp"
	"strings"
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

// TestREADMETable: the README's metrics table lists exactly Families, with
// their types and labels (the default namespace).
func TestREADMETable(t *testing.T) {
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| (`breakwater_[a-z0-9_]+`(?:, `breakwater_[a-z0-9_]+`)*) \\| (counter|gauge|histogram) \\| ([a-z, ]+) \\| ")
	got := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for _, n := range strings.Split(m[1], ", ") {
			got[strings.Trim(n, "`")] = m[2] + " " + m[3]
		}
	}
	for _, f := range Families {
		name := PrometheusName("breakwater", f.Name)
		want := string(f.Type) + " " + strings.Join(f.Labels, ", ")
		if got[name] != want {
			t.Errorf("README: %s is %q, want %q", name, got[name], want)
		}
		delete(got, name)
	}
	for name := range got {
		t.Errorf("README lists %s, which is not a family", name)
	}
}
