package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	grafanadashboard "github.com/grafana/grafana-foundation-sdk/go/dashboard"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/breakwater/breakwater/internal/metricdef"
)

const (
	rulesPath          = "deploy/breakwater.rules.yml"
	dashboardPath      = "deploy/grafana/dashboards/breakwater.json"
	grafanaDatasources = "deploy/grafana/provisioning/datasources/prometheus.yml"
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = []string{"instance", "job"}

// exposed is what the plugin exports, from the dev host's scrape (see
// scrape): every series name Prometheus stores (a histogram's _bucket, _sum
// and _count) with the label names its samples carry.
func exposed(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range m.GetLabel() {
			out[name][l.GetName()] = true
		}
		for _, l := range append(extra, targetLabels...) {
			out[name][l] = true
		}
	}
	for name, mf := range scrape(t).mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			} else {
				add(name, m)
			}
		}
	}
	return out
}

var promqlParser = parser.NewParser(parser.Options{})

// selectors parses expr with Prometheus' PromQL parser and returns, for
// every vector selector, its metric name and the label names it matches on,
// and the grouping labels of every aggregation.
func selectors(expr string) (map[string][]string, []string, error) {
	e, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, nil, err
	}
	sels := map[string][]string{}
	var grouping []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			name := n.Name
			var ls []string
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					if m.Type == labels.MatchEqual {
						name = m.Value
					}
					continue
				}
				ls = append(ls, m.Name)
			}
			sels[name] = append(sels[name], ls...)
		case *parser.AggregateExpr:
			grouping = append(grouping, n.Grouping...)
		}
		return nil
	})
	return sels, grouping, nil
}

// checkQuery fails the test with every queryProblems of expr.
func checkQuery(t *testing.T, where, expr string, known map[string]map[string]bool) {
	t.Helper()
	for _, p := range queryProblems(expr, known) {
		t.Errorf("%s: %s", where, p)
	}
}

// queryProblems parses expr and reports a syntax error, a series the plugin
// does not export (nor a rule records), and a label matched or grouped on
// that those series do not have.
func queryProblems(expr string, known map[string]map[string]bool) []string {
	sels, grouping, err := selectors(expr)
	if err != nil {
		return []string{fmt.Sprintf("PromQL %q: %v", expr, err)}
	}
	var out []string
	if len(sels) == 0 {
		out = append(out, fmt.Sprintf("%q reads no metric", expr))
	}
	all := map[string]bool{}
	for name, ls := range sels {
		have, ok := known[name]
		if !ok {
			out = append(out, fmt.Sprintf("metric %q is not exported by the plugin (nor recorded by %s)", name, rulesPath))
			continue
		}
		for l := range have {
			all[l] = true
		}
		for _, l := range ls {
			if !have[l] {
				out = append(out, fmt.Sprintf("%s has no label %q", name, l))
			}
		}
	}
	for _, l := range grouping {
		if !all[l] {
			out = append(out, fmt.Sprintf("groups by %q, which none of its metrics has", l))
		}
	}
	return out
}

func loadRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	groups, errs := rulefmt.ParseFile(inRepo(rulesPath), false, model.LegacyValidation, promqlParser, logger)
	for _, err := range errs {
		t.Error(err)
	}
	if groups == nil || len(errs) > 0 {
		t.FailNow()
	}
	return groups
}

// recorded adds the series the recording rules write, with the labels they
// keep (an expression's labels cannot be derived in general: the grouping
// of its outermost aggregations stands for them, plus the target labels
// when it does not aggregate).
func recorded(t *testing.T, groups *rulefmt.RuleGroups, known map[string]map[string]bool) {
	t.Helper()
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Record == "" {
				continue
			}
			e, err := promqlParser.ParseExpr(r.Expr)
			if err != nil {
				continue // reported by TestRules
			}
			ls := map[string]bool{}
			parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
				if a, ok := n.(*parser.AggregateExpr); ok && !a.Without {
					for _, l := range a.Grouping {
						ls[l] = true
					}
				}
				return nil
			})
			known[r.Record] = ls
		}
	}
}

// TestRules loads the rules with Prometheus' rulefmt (unknown fields
// rejected, legacy metric names), parses every expression with the PromQL
// parser, checks every metric and label they use against the plugin's
// scrape, and checks the alerts the project promises.
func TestRules(t *testing.T) {
	groups := loadRules(t)
	known := exposed(t)
	recorded(t, groups, known)

	alerts := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			where := rulesPath + ": " + g.Name + ": " + r.Record + r.Alert
			checkQuery(t, where, r.Expr, known)
			if r.Record != "" {
				if !regexp.MustCompile(`^[a-z_]+:breakwater_[a-z0-9_]+:[a-z0-9_]+$`).MatchString(r.Record) {
					t.Errorf("%s: recording rule name should read level:breakwater_metric:operations", where)
				}
				continue
			}
			alerts[r.Alert] = r
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", where, r.Labels["severity"])
			}
			if time.Duration(r.For) < time.Minute {
				t.Errorf("%s: for %v: an alert on a rate or a gauge needs to hold a while", where, r.For)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description annotations are required", where)
			}
		}
	}
	// What each promised alert is about: the metric it reads, directly or
	// through a recording rule.
	reads := func(a rulefmt.Rule) string {
		expr := a.Expr
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" && strings.Contains(expr, r.Record) {
					expr += " " + r.Expr
				}
			}
		}
		return expr
	}
	for _, want := range []struct{ alert, metric string }{
		{"BreakwaterCircuitBreakerNotClosed", "breakwater_circuit_breaker_state"},
		{"BreakwaterRejectionRatioHigh", "breakwater_rejected_total"},
		{"BreakwaterRateLimitServiceFailing", "breakwater_rate_limit_service_failures_total"},
		{"BreakwaterBulkheadSaturated", "breakwater_bulkhead_max_concurrent"},
	} {
		a, ok := alerts[want.alert]
		if !ok {
			t.Errorf("no alert %s", want.alert)
		} else if !strings.Contains(reads(a), want.metric) {
			t.Errorf("alert %s does not read %s", want.alert, want.metric)
		}
	}
}

// grafanaVars stands in for Grafana's variables so that a query parses as
// the PromQL Grafana sends.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "1m", "${__rate_interval}", "1m",
	"$__interval", "1m", "${__interval}", "1m",
	"$__range", "1h", "${__range}", "1h",
	"${policy}", "orders", "$policy", "orders",
)

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string     `json:"name"`
			Type       string     `json:"type"`
			Datasource datasource `json:"datasource"`
			Definition string     `json:"definition"`
			Query      struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	Type       string     `json:"type"`
	Title      string     `json:"title"`
	Datasource datasource `json:"datasource"`
	Panels     []panel    `json:"panels"` // a collapsed row's
	Targets    []struct {
		Datasource datasource `json:"datasource"`
		Expr       string     `json:"expr"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(inRepo(dashboardPath))
	if err != nil {
		t.Fatal(err)
	}
	// Grafana's own dashboard schema (grafana-foundation-sdk, generated from
	// it): strict, so a missing required field, a wrong type or an unknown
	// field fails, panel options included (the panel plugins registered).
	plugins.RegisterDefaultPlugins()
	var gd grafanadashboard.Dashboard
	if err := sdkErr(gd.UnmarshalJSONStrict(data)); err != nil {
		t.Errorf("%s against Grafana's dashboard schema: %v", dashboardPath, err)
	} else if err := sdkErr(gd.Validate()); err != nil {
		t.Errorf("%s: %v", dashboardPath, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// sdkErr is err, except that the SDK's UnmarshalJSONStrict returns its
// error list typed even when it is empty: a non-nil error holding nothing.
func sdkErr(err error) error {
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

// provisionedDatasourceUID is the uid of the Prometheus datasource Grafana
// is provisioned with.
func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	doc := readYAMLTree(t, inRepo(grafanaDatasources))
	dss, _ := doc["datasources"].([]any)
	for _, d := range dss {
		dm, _ := d.(map[string]any)
		if dm["type"] == "prometheus" {
			uid, _ := dm["uid"].(string)
			return uid
		}
	}
	t.Fatalf("%s: no prometheus datasource", grafanaDatasources)
	return ""
}

// TestDashboard parses every query of the Grafana dashboard with the PromQL
// parser (Grafana's variables substituted), checks every metric and label it
// uses against the plugin's scrape and the recording rules, that every panel
// queries the provisioned datasource, and that there is a row per pattern.
func TestDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title (the provider keys on the uid)")
	}
	known := exposed(t)
	recorded(t, loadRules(t), known)
	uid := provisionedDatasourceUID(t)

	var rows []string
	queries := 0
	var visit func(ps []panel)
	visit = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				rows = append(rows, p.Title)
				visit(p.Panels)
				continue
			}
			if p.Datasource.UID != uid {
				t.Errorf("panel %q: datasource uid %q, want the provisioned %q", p.Title, p.Datasource.UID, uid)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, q := range p.Targets {
				if q.Datasource.UID != uid {
					t.Errorf("panel %q: a query's datasource uid %q, want %q", p.Title, q.Datasource.UID, uid)
				}
				queries++
				checkQuery(t, "panel "+p.Title, grafanaVars.Replace(q.Expr), known)
			}
		}
	}
	visit(d.Panels)
	if queries == 0 {
		t.Fatal("no queries found: the walk or the file is wrong")
	}

	// Variables: label_values(metric, label) of an exported metric and label.
	labelValues := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Query.Query)
		if m == nil || v.Definition != v.Query.Query {
			t.Errorf("variable %s: query %q (definition %q), want label_values(metric, label)", v.Name, v.Query.Query, v.Definition)
			continue
		}
		if !known[m[1]][m[2]] {
			t.Errorf("variable %s: %s has no label %s", v.Name, m[1], m[2])
		}
		if v.Datasource.UID != uid {
			t.Errorf("variable %s: datasource uid %q, want %q", v.Name, v.Datasource.UID, uid)
		}
	}

	// A row per pattern, in this order.
	want := []string{"Requests and rejections", "Circuit breaker", "Bulkhead", "Retry budget", "Timeouts", "Rate limits", "Fault injection", "Dead letters"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("rows %q, want %q", rows, want)
	}
	// Every family the plugin exports is on the dashboard.
	text, _ := os.ReadFile(inRepo(dashboardPath))
	var missing []string
	for _, f := range metricdef.Families {
		if n := metricdef.PrometheusName(namespace, f.Name); !strings.Contains(string(text), n) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("families on no panel: %v", missing)
	}
}

// TestQueryCheckCatchesErrors proves checkQuery is not vacuous.
func TestQueryCheckCatchesErrors(t *testing.T) {
	known := map[string]map[string]bool{"breakwater_requests_total": {"policy": true, "instance": true, "job": true}}
	for _, bad := range []string{
		`sum(rate(breakwater_requests_total[5m]`,                 // syntax
		`rate(breakwater_orders_requests_total[5m])`,             // an old name
		`rate(breakwater_requests_total{reason="x"}[5m])`,        // no such label
		`sum by (limit) (rate(breakwater_requests_total[5m]))`,   // grouping on a missing label
		`rate({__name__="breakwater_requests_total_bogus"}[5m])`, // name matcher
		`histogram_quantile(0.9, rate(breakwater_timeout_effective_bucket[5m]))`,
	} {
		if len(queryProblems(bad, known)) == 0 {
			t.Errorf("queryProblems accepted %q", bad)
		}
	}
	if p := queryProblems(`sum by (policy) (rate(breakwater_requests_total{policy=~"a|b"}[1m]))`, known); len(p) != 0 {
		t.Errorf("a good query rejected: %v", p)
	}
}
