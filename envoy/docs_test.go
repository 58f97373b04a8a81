package envoy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
)

// docFiles are the Markdown files whose snippets must match the real APIs.
var docFiles = []string{"README.md", "envoy/README.md"}

// snippet is one fenced code block of a Markdown file.
type snippet struct {
	file string
	line int // of the opening fence
	lang string
	text string
}

func (s snippet) String() string { return s.file + ":" + strconv.Itoa(s.line) }

// snippets returns the fenced code blocks of the given language.
func snippets(t *testing.T, file, lang string) []snippet {
	t.Helper()
	data, err := os.ReadFile(inRepo(file))
	if err != nil {
		t.Fatal(err)
	}
	var out []snippet
	var cur *snippet
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && strings.HasPrefix(trimmed, "```"):
			cur = &snippet{file: file, line: i + 1, lang: strings.TrimPrefix(trimmed, "```")}
		case cur != nil && trimmed == "```":
			if cur.lang == lang {
				out = append(out, *cur)
			}
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated code block", file, cur.line)
	}
	return out
}

// TestDocYAMLSnippetsValidate extracts every YAML snippet of README.md and
// envoy/README.md and validates it as what it is, with the same code the
// deployment files go through: an Envoy fragment (http_filters as an
// HttpConnectionManager's, routes as a VirtualHost's, virtual_hosts as a
// RouteConfiguration's, a whole bootstrap) is parsed with protojson into go-control-plane's types,
// unknown fields rejected, and ValidateAll runs on it and on every Any
// inside (validateTree); a plugin configuration embedded in it passes the
// filter's parser; an Istio WasmPlugin is parsed into istio.io/api's type
// and checked as the manifests are; an envoyproxy/ratelimit configuration
// is checked as envoy/ratelimit's files are. A snippet of any other kind
// fails the test, so that a new one cannot go unchecked.
func TestDocYAMLSnippetsValidate(t *testing.T) {
	n := 0
	for _, f := range docFiles {
		for _, s := range snippets(t, f, "yaml") {
			n++
			t.Run(s.String(), func(t *testing.T) { validateSnippet(t, s) })
		}
	}
	if n == 0 {
		t.Fatal("no YAML snippet found: the extraction is broken")
	}
}

func validateSnippet(t *testing.T, s snippet) {
	js, err := yaml.YAMLToJSON([]byte(s.text))
	if err != nil {
		t.Fatalf("%s: not valid YAML: %v", s, err)
	}
	var top map[string]any
	if err := json.Unmarshal(js, &top); err != nil {
		t.Fatalf("%s: not a YAML mapping: %v", s, err)
	}
	parse := func(msg proto.Message, data []byte) {
		t.Helper()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, msg); err != nil {
			t.Fatalf("%s: does not parse as %s: %v", s, msg.ProtoReflect().Descriptor().FullName(), err)
		}
		for _, err := range validateTree(msg, s.String()) {
			t.Error(err)
		}
	}
	wrap := func(extra map[string]any) []byte {
		for k, v := range top {
			extra[k] = v
		}
		b, _ := json.Marshal(extra)
		return b
	}
	switch {
	case top["kind"] == "WasmPlugin":
		wp, doc := parseWasmPlugin(t, s.String(), top)
		checkWasmPlugin(t, wp, doc)
	case top["http_filters"] != nil:
		var hcm hcmv3.HttpConnectionManager
		parse(&hcm, wrap(map[string]any{"stat_prefix": "snippet", "route_config": map[string]any{}}))
		var cfg wrapperspb.StringValue
		if err := wasmOf(t, &hcm).GetConfiguration().UnmarshalTo(&cfg); err != nil {
			t.Fatalf("%s: plugin configuration must be a google.protobuf.StringValue: %v", s, err)
		}
		if _, err := config.Parse([]byte(cfg.GetValue())); err != nil {
			t.Errorf("%s: the embedded plugin configuration is rejected: %v", s, err)
		}
	case top["routes"] != nil:
		parse(&routev3.VirtualHost{}, wrap(map[string]any{"name": "snippet", "domains": []any{"*"}}))
	case top["virtual_hosts"] != nil:
		parse(&routev3.RouteConfiguration{}, wrap(map[string]any{"name": "snippet"}))
	case top["static_resources"] != nil:
		parse(&bootstrapv3.Bootstrap{}, js)
	case top["domain"] != nil && top["descriptors"] != nil:
		if _, _, errs := checkRateLimitConfig(top); len(errs) > 0 {
			t.Errorf("%s: not a valid envoyproxy/ratelimit configuration: %v", s, errs)
		}
	default:
		t.Errorf("%s: a YAML snippet this test does not know how to validate (keys %v): teach validateSnippet its type", s, keys(top))
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// quickStartCurl is the request of README's docker compose quick start.
var quickStartCurl = regexp.MustCompile(`(?m)^curl -i localhost:10000(\S+)((?: -H '[^']*')*)\s*$`)

// TestQuickStartCurlReachesPolicy sends the exact request of README's quick
// start through the dev host running the built plugin with
// envoy/plugin.json, and checks it reaches the "orders" policy (the one the
// quick start is about, with the per-user limit its x-user-id header
// keys), not the catch-all "default".
func TestQuickStartCurlReachesPolicy(t *testing.T) {
	var quick snippet
	for _, s := range snippets(t, "README.md", "sh") {
		if strings.Contains(s.text, "docker compose up") {
			quick = s
		}
	}
	m := quickStartCurl.FindStringSubmatch(quick.text)
	if m == nil {
		t.Fatalf("no `curl -i localhost:10000PATH -H '...'` in README's docker compose quick start:\n%s", quick.text)
	}
	path := m[1]
	var kv []string
	for _, h := range regexp.MustCompile(`-H '([^:']+):\s*([^']*)'`).FindAllStringSubmatch(m[2], -1) {
		kv = append(kv, h[1], h[2])
	}

	wasm, err := os.ReadFile(filepath.Join(repoRoot, "dist", "breakwater.wasm"))
	if err != nil {
		t.Fatalf("%v: run make build", err)
	}
	var mu sync.Mutex
	var seenPolicy, seenPath string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenPolicy, seenPath = r.Header.Get("x-breakwater-policy"), r.URL.Path
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	// The global limit's service: always OK.
	rls := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"overallCode":"OK","statuses":[{"code":"OK"}]}`)
	}))
	defer rls.Close()
	h, err := devhost.New(devhost.Options{Wasm: wasm, PluginConfig: pluginJSON(t), Workers: 1,
		UpstreamCluster: "upstream", Clusters: map[string]string{"upstream": up.URL, "ratelimit": rls.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	mu.Lock()
	defer mu.Unlock()
	if rec.Code != http.StatusOK || seenPath != path || seenPolicy != "orders" {
		t.Fatalf("curl %s %v: status %d, upstream saw path %q under policy %q; want 200 through policy \"orders\"",
			path, kv, rec.Code, seenPath, seenPolicy)
	}
	if rec.Header().Get("RateLimit-Limit") == "" {
		t.Errorf("no RateLimit-* headers on the answer (orders has headers: true): %v", rec.Header())
	}
}
