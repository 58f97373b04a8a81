package envoy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/internal/metricdef"
)

const (
	meshConfigPath = "istio/meshconfig-stats.yaml"
	namespace      = "breakwater" // envoy/plugin.json's
)

// bootstrapStatsTags is envoy.yaml's stats_config.stats_tags in the dev
// host's form, failing on a specifier that is not a regex.
func bootstrapStatsTags(t *testing.T) []devhost.StatsTag {
	t.Helper()
	var out []devhost.StatsTag
	for i, ts := range loadBootstrap(t).GetStatsConfig().GetStatsTags() {
		if ts.GetRegex() == "" {
			t.Fatalf("stats_tags[%d] (%s): not a regex tag", i, ts.GetTagName())
		}
		out = append(out, devhost.StatsTag{Name: ts.GetTagName(), Regex: ts.GetRegex()})
	}
	return out
}

// TestStatsTagsMatchPlugin: envoy.yaml extracts exactly the labels the
// plugin writes, with the regexes of internal/metricdef (which the dev host
// applies by default), in the same order, and keeps Envoy's default tags
// on for Envoy's own stats.
func TestStatsTagsMatchPlugin(t *testing.T) {
	sc := loadBootstrap(t).GetStatsConfig()
	if sc.GetUseAllDefaultTags() == nil || !sc.GetUseAllDefaultTags().GetValue() {
		t.Error("stats_config.use_all_default_tags: want it set explicitly to true")
	}
	got := bootstrapStatsTags(t)
	if len(got) != len(metricdef.Tags) {
		t.Fatalf("envoy.yaml has %d stats_tags, the plugin writes %d labels", len(got), len(metricdef.Tags))
	}
	for i, tg := range metricdef.Tags {
		if got[i].Name != tg.Name || got[i].Regex != tg.Regex {
			t.Errorf("stats_tags[%d] = %s %q, want %s %q (internal/metricdef.Tags)", i, got[i].Name, got[i].Regex, tg.Name, tg.Regex)
		}
	}
	// Every label of every family has its extractor.
	tags := map[string]bool{}
	for _, tg := range got {
		tags[tg.Name] = true
	}
	for _, f := range metricdef.Families {
		for _, l := range f.Labels {
			if !tags[l] {
				t.Errorf("family %s: label %s has no stats_tags entry", f.Name, l)
			}
		}
	}
}

// TestIstioMeshConfigStats: the Istio overlay names the same tags (Istio
// turns each extraStatTags entry into the regex envoy.yaml spells out) and
// its stats inclusion list admits every stat the plugin defines.
func TestIstioMeshConfigStats(t *testing.T) {
	doc := readYAMLTree(t, meshConfigPath)
	if doc["apiVersion"] != "install.istio.io/v1alpha1" || doc["kind"] != "IstioOperator" {
		t.Fatalf("%s: apiVersion/kind = %v/%v", meshConfigPath, doc["apiVersion"], doc["kind"])
	}
	spec, _ := doc["spec"].(map[string]any)
	for k := range spec {
		if k != "meshConfig" {
			t.Errorf("%s: spec.%s: only meshConfig belongs in this overlay", meshConfigPath, k)
		}
	}
	js, err := json.Marshal(spec["meshConfig"])
	if err != nil {
		t.Fatal(err)
	}
	var mc meshv1alpha1.MeshConfig
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &mc); err != nil {
		t.Fatalf("%s: spec.meshConfig does not parse as istio.mesh.v1alpha1.MeshConfig: %v", meshConfigPath, err)
	}
	pc := mc.GetDefaultConfig()
	var names []string
	for _, tg := range metricdef.Tags {
		names = append(names, tg.Name)
		// The regex Istio's bootstrap template generates for an extra tag.
		if istio := "(" + tg.Name + `=\.=(.*?);\.;)`; istio != tg.Regex {
			t.Errorf("tag %s: Istio would extract it with %q, envoy.yaml and the dev host use %q", tg.Name, istio, tg.Regex)
		}
	}
	if got := pc.GetExtraStatTags(); strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("extraStatTags = %v, want %v", got, names)
	}
	prefixes := pc.GetProxyStatsMatcher().GetInclusionPrefixes()
	if len(prefixes) == 0 {
		t.Fatal("no proxyStatsMatcher.inclusionPrefixes: Istio would not create the plugin's stats")
	}
	s := scrape(t)
	for _, v := range s.raw {
		full := "wasmcustom." + v.Name // the name Envoy's stats matcher sees
		ok := false
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(full, p)
		}
		if !ok {
			t.Errorf("stat %s is not on the inclusion list %v", full, prefixes)
		}
	}
}

// scrapeResult is the dev host's /stats/prometheus after a fixed set of
// requests, with the stats as the plugin defined them.
type scrapeResult struct {
	text string
	raw  []devhost.MetricValue
	mfs  map[string]*dto.MetricFamily
}

var (
	scrapeOnce sync.Once
	scraped    scrapeResult
	scrapeErr  error
)

// scrape runs dist/breakwater.wasm (`make build`) in the dev host with the
// tags of envoy.yaml and envoy/plugin.json plus one policy with fault
// injection and dead letters (so that every family the plugin has is
// defined), sends
//
//	3 x GET /anything/orders/1 (x-user-id: alice): policy orders, whose
//	    global limit calls a rate limit service that answers 500
//	    (failure_mode allow: admitted)
//	2 x GET /chaos: policy chaos, aborted by the fault (503)
//	1 x GET /other: policy default
//
// and reads /stats/prometheus. Time is the dev host's manual clock.
func scrape(t *testing.T) scrapeResult {
	t.Helper()
	tags := bootstrapStatsTags(t)
	cfg := scrapeConfig(t)
	scrapeOnce.Do(func() { scraped, scrapeErr = runScrape(tags, cfg) })
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	return scraped
}

func scrapeConfig(t *testing.T) []byte {
	t.Helper()
	cfg, _ := decodeJSON(t, "plugin.json", pluginJSON(t)).(map[string]any)
	pols, _ := cfg["policies"].([]any)
	chaos := map[string]any{
		"name":  "chaos",
		"match": map[string]any{"path_prefix": "/chaos"},
		"fault": map[string]any{"abort": map[string]any{"percent": 100.0, "status": 503}},
		// Defines the dead-letter families; no request of the scrape qualifies.
		"dead_letter": map[string]any{"cluster": "dlq"},
	}
	cfg["policies"] = append([]any{chaos}, pols...) // before the catch-all "default"
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runScrape(tags []devhost.StatsTag, cfg []byte) (scrapeResult, error) {
	wasm, err := os.ReadFile(inRepo("dist/breakwater.wasm"))
	if err != nil {
		return scrapeResult{}, fmt.Errorf("%v (run `make build` first)", err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	defer up.Close()
	rls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer rls.Close()
	h, err := devhost.New(devhost.Options{
		Wasm: wasm, PluginConfig: cfg, Workers: 2, StatsTags: tags,
		Clusters: map[string]string{"upstream": up.URL, "ratelimit": rls.URL, "dlq": rls.URL},
		Clock:    devhost.NewManualClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
	})
	if err != nil {
		return scrapeResult{}, err
	}
	defer h.Close()
	front := httptest.NewServer(h)
	defer front.Close()
	send := func(path, user string, want int) error {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		if user != "" {
			req.Header.Set("x-user-id", user)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("GET %s: status %d, want %d (%s)", path, resp.StatusCode, want, resp.Header.Get("x-breakwater-reason"))
		}
		return nil
	}
	for _, r := range []struct {
		path, user string
		status     int
	}{
		{"/anything/orders/1", "alice", 200}, {"/anything/orders/1", "alice", 200}, {"/anything/orders/1", "alice", 200},
		{"/chaos", "", 503}, {"/chaos", "", 503},
		{"/other", "", 200},
	} {
		if err := send(r.path, r.user, r.status); err != nil {
			return scrapeResult{}, err
		}
	}
	rec := httptest.NewRecorder()
	h.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/stats/prometheus", nil))
	text := rec.Body.String()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		return scrapeResult{}, fmt.Errorf("expfmt: %v\n%s", err, text)
	}
	return scrapeResult{text: text, raw: h.Metrics(), mfs: mfs}, nil
}

// sample finds the sample of family with exactly these labels (name, value
// pairs) and returns its counter or gauge value.
func sample(t *testing.T, mfs map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	t.Helper()
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range mfs[family].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Errorf("no sample %s%v", family, want)
	return -1
}

// TestPrometheusExposition reads what Envoy's /stats/prometheus would give
// with envoy.yaml and plugin.json, through the dev host: Prometheus' own
// parser reads it, the families are exactly internal/metricdef's with their
// labels, the values are those of the requests sent, and promlint finds no
// problem with the names, types and labels.
func TestPrometheusExposition(t *testing.T) {
	s := scrape(t)
	mfs := s.mfs

	// The families: exactly metricdef's, each sample with the family's labels.
	want := map[string]metricdef.Family{}
	for _, f := range metricdef.Families {
		want[metricdef.PrometheusName(namespace, f.Name)] = f
	}
	var names []string
	for name := range mfs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, ok := want[name]
		if !ok {
			t.Errorf("family %s is not in internal/metricdef.Families", name)
			continue
		}
		if got := strings.ToLower(mfs[name].GetType().String()); got != string(f.Type) {
			t.Errorf("family %s: type %s, want %s", name, got, f.Type)
		}
		for _, m := range mfs[name].GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "le" {
					ls = append(ls, l.GetName())
				}
			}
			wl := append([]string(nil), f.Labels...)
			sort.Strings(ls)
			sort.Strings(wl)
			if strings.Join(ls, ",") != strings.Join(wl, ",") {
				t.Errorf("family %s: a sample has labels %v, want %v", name, ls, wl)
			}
		}
	}
	for name := range want {
		if mfs[name] == nil {
			t.Errorf("family %s (internal/metricdef) not exported", name)
		}
	}

	// Values and label values of the requests sent.
	for _, c := range []struct {
		family string
		labels []string
		want   float64
	}{
		{"breakwater_requests_total", []string{"policy", "orders"}, 3},
		{"breakwater_requests_total", []string{"policy", "chaos"}, 2},
		{"breakwater_requests_total", []string{"policy", "default"}, 1},
		{"breakwater_rejected_total", []string{"policy", "chaos", "reason", "fault_abort"}, 2},
		{"breakwater_rejected_total", []string{"policy", "orders", "reason", "rate_limited"}, 0},
		{"breakwater_fault_aborted_total", []string{"policy", "chaos"}, 2},
		{"breakwater_rate_limit_service_failures_total", []string{"policy", "orders"}, 3},
		{"breakwater_rate_limit_limited_total", []string{"policy", "orders", "limit", "per-user"}, 0},
		{"breakwater_rate_limit_limited_total", []string{"policy", "orders", "limit", "mesh"}, 0},
		{"breakwater_rate_limit_limited_total", []string{"policy", "default", "limit", "per-client"}, 0},
		{"breakwater_circuit_breaker_state", []string{"policy", "orders"}, 0},
		{"breakwater_circuit_breaker_transitions_total", []string{"policy", "default", "to", "open"}, 0},
		{"breakwater_bulkhead_max_concurrent", []string{"policy", "orders"}, 20},
		{"breakwater_bulkhead_queue_max_size", []string{"policy", "orders"}, 50},
		{"breakwater_bulkhead_active", []string{"policy", "orders"}, 0},
	} {
		if got := sample(t, mfs, c.family, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.family, c.labels, got, c.want)
		}
	}
	// The histogram: one series per policy with a timeout, le added last.
	for _, m := range mfs["breakwater_timeout_effective"].GetMetric() {
		if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "policy" {
			t.Errorf("timeout_effective series labels %v", m.GetLabel())
		}
		if m.GetLabel()[0].GetValue() == "orders" && m.GetHistogram().GetSampleCount() != 3 {
			t.Errorf("timeout_effective{policy=orders}: %d timeouts recorded, want 3", m.GetHistogram().GetSampleCount())
		}
	}
	if !strings.Contains(s.text, `breakwater_timeout_effective_bucket{policy="orders",le="2500"} 3`) {
		t.Errorf("want the orders policy's 2s timeouts in the le=2500 bucket, labels in Envoy's order:\n%s", s.text)
	}

	// promlint. Envoy's /stats/prometheus writes no # HELP lines (a plugin
	// cannot give one through the ABI), so promlint's "no help text" holds
	// for every family of the real output too; any other problem fails.
	var fams []*dto.MetricFamily
	for _, name := range names {
		fams = append(fams, mfs[name])
	}
	problems, err := promlint.NewWithMetricFamilies(fams).Lint()
	if err != nil {
		t.Fatal(err)
	}
	noHelp := 0
	for _, p := range problems {
		if p.Text == "no help text" {
			noHelp++
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	if noHelp != len(fams) {
		t.Errorf("promlint: %d families without help text, want all %d (Envoy writes none)", noHelp, len(fams))
	}
	// With the families' help from metricdef, nothing at all is reported.
	for _, mf := range fams {
		for _, f := range metricdef.Families {
			if metricdef.PrometheusName(namespace, f.Name) == mf.GetName() {
				mf.Help = &f.Help
			}
		}
	}
	if problems, _ := promlint.NewWithMetricFamilies(fams).Lint(); len(problems) != 0 {
		t.Errorf("promlint with help text: %v", problems)
	}
	if testing.Verbose() {
		t.Logf("/stats/prometheus:\n%s", s.text)
	}
}
