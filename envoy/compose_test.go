package envoy

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

const composeFile = "docker-compose.yml"

// buildOutputs are the files that `make build` produces: a bind mount may
// reference them although they are not in the repository.
var buildOutputs = []string{"dist/breakwater.wasm"}

// minEnvoyMinor is the first Envoy minor release that both loads standard-Go
// wasm plugins (1.33) and carries the poll_oneoff fix (envoyproxy/envoy#45756,
// first released in 1.39.0; see envoy/README.md).
const minEnvoyMinor = 39

// loadCompose loads docker-compose.yml with compose-go the way `docker
// compose` does (schema validation, normalization, consistency checks, bind
// sources resolved against the repository root), with an empty environment
// and no .env file, so nothing on the machine running the test changes the
// result.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(root, composeFile)},
		cli.WithWorkingDirectory(root),
		cli.WithEnv(nil),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("%s does not load: %v", composeFile, err)
	}
	return p
}

// TestComposeNoInterpolation keeps the file free of ${VAR} and $VAR, so what
// the test loads is what every user's `docker compose` runs.
func TestComposeNoInterpolation(t *testing.T) {
	data, err := os.ReadFile(inRepo(composeFile))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\$\{|\$[A-Za-z_]`)
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			t.Errorf("%s:%d: variable interpolation: %q", composeFile, i+1, line)
		}
	}
}

// TestComposeFilesExist checks that every bind mount's source exists in the
// repository (or is a build output), that nothing is mounted from outside
// it, and that the mounts are read-only and refuse to create a missing
// source.
func TestComposeFilesExist(t *testing.T) {
	p := loadCompose(t)
	root, _ := filepath.Abs(repoRoot)
	binds := 0
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			binds++
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s: bind source %s is outside the repository", name, v.Source)
				continue
			}
			rel = filepath.ToSlash(rel)
			st, err := os.Stat(v.Source)
			switch {
			case err == nil && st.Mode().IsRegular(), err == nil && st.IsDir():
			case slices.Contains(buildOutputs, rel):
				// produced by `make build`
			default:
				t.Errorf("%s: bind source %s does not exist in the repository", name, rel)
			}
			if !v.ReadOnly {
				t.Errorf("%s: bind %s is writable; mount configuration read-only", name, rel)
			}
			if v.Bind == nil || bool(v.Bind.CreateHostPath) {
				t.Errorf("%s: bind %s may create its source; set bind.create_host_path: false so a missing file fails", name, rel)
			}
		}
	}
	if binds == 0 {
		t.Fatal("no bind mounts found: the loader or the file changed")
	}
}

// TestComposeImagesPinned requires an explicit, non-moving tag on every
// image, and an Envoy release that carries the poll_oneoff fix.
func TestComposeImagesPinned(t *testing.T) {
	p := loadCompose(t)
	for _, name := range p.ServiceNames() {
		img := p.Services[name].Image
		i := strings.LastIndex(img, ":")
		if img == "" || i < 0 || strings.Contains(img[i:], "/") {
			t.Errorf("%s: image %q has no tag", name, img)
			continue
		}
		switch tag := img[i+1:]; tag {
		case "latest", "master", "main", "dev":
			t.Errorf("%s: image %q uses the moving tag %q", name, img, tag)
		}
	}
	envoy, ok := p.Services["envoy"]
	if !ok {
		t.Fatal("no envoy service")
	}
	m := regexp.MustCompile(`^envoyproxy/envoy:v1\.([0-9]+)\.([0-9]+)$`).FindStringSubmatch(envoy.Image)
	if m == nil {
		t.Fatalf("envoy image %q: want envoyproxy/envoy:v1.MINOR.PATCH (a release, not a dev build)", envoy.Image)
	}
	if minor, _ := strconv.Atoi(m[1]); minor < minEnvoyMinor {
		t.Errorf("envoy image %q: Envoy before 1.%d answers WASI poll_oneoff with ENOSYS and Go plugins crash under load", envoy.Image, minEnvoyMinor)
	}
}

// TestComposeMatchesBootstrap checks that docker-compose.yml runs
// envoy/envoy.yaml as written: the config and the .wasm are mounted where
// the bootstrap expects them, every cluster endpoint is a compose service
// listening on that port, and the listener and admin ports are published.
func TestComposeMatchesBootstrap(t *testing.T) {
	p := loadCompose(t)
	b := loadBootstrap(t)
	root, _ := filepath.Abs(repoRoot)

	envoy, ok := p.Services["envoy"]
	if !ok {
		t.Fatal("no envoy service")
	}
	mounts := map[string]string{} // target -> source relative to the repo
	for _, v := range envoy.Volumes {
		rel, _ := filepath.Rel(root, v.Source)
		mounts[v.Target] = filepath.ToSlash(rel)
	}
	configPath := flagValue(envoy.Command, "-c", "--config-path")
	if configPath == "" {
		t.Errorf("envoy command %v does not name a config file (-c)", envoy.Command)
	} else if mounts[configPath] != "envoy/envoy.yaml" {
		t.Errorf("envoy runs -c %s, which mounts %q, want envoy/envoy.yaml", configPath, mounts[configPath])
	}
	wasm := wasmOf(t, hcmOf(t, b)).GetVmConfig().GetCode().GetLocal().GetFilename()
	if mounts[wasm] != "dist/breakwater.wasm" {
		t.Errorf("envoy.yaml loads %s, which the envoy service mounts from %q, want dist/breakwater.wasm", wasm, mounts[wasm])
	}

	published := map[uint32]bool{}
	for _, port := range envoy.Ports {
		if port.Published != strconv.Itoa(int(port.Target)) {
			t.Errorf("envoy publishes %s:%d; keep host and container ports equal so the README's URLs hold", port.Published, port.Target)
		}
		published[port.Target] = true
	}
	for _, want := range []uint32{listenerPort, adminPort} {
		if !published[want] {
			t.Errorf("envoy does not publish port %d", want)
		}
	}

	// Every STRICT_DNS endpoint names a compose service that exposes that
	// port, and the envoy service depends on it.
	for _, c := range b.GetStaticResources().GetClusters() {
		for _, ep := range endpointsOf(c) {
			svc, ok := p.Services[ep.GetAddress()]
			if !ok {
				t.Errorf("cluster %s: endpoint %s is not a compose service", c.GetName(), ep.GetAddress())
				continue
			}
			if !exposes(svc, ep.GetPortValue()) {
				t.Errorf("cluster %s: service %s does not expose port %d", c.GetName(), ep.GetAddress(), ep.GetPortValue())
			}
			if _, ok := envoy.DependsOn[ep.GetAddress()]; !ok {
				t.Errorf("envoy does not depend on %s (cluster %s)", ep.GetAddress(), c.GetName())
			}
		}
	}
}

// TestComposeRateLimitService checks the envoyproxy/ratelimit service: it
// reads envoy/ratelimit from the runtime directory its environment names,
// talks to the redis service, and its configuration serves the global limit
// of envoy/plugin.json (same domain, the descriptor key exists).
func TestComposeRateLimitService(t *testing.T) {
	p := loadCompose(t)
	root, _ := filepath.Abs(repoRoot)
	rl, ok := p.Services["ratelimit"]
	if !ok {
		t.Fatal("no ratelimit service")
	}
	env := func(k string) string {
		if v := rl.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	configDir := path.Join(env("RUNTIME_ROOT"), env("RUNTIME_SUBDIRECTORY"), "config")
	var source string
	for _, v := range rl.Volumes {
		if v.Target == configDir {
			rel, _ := filepath.Rel(root, v.Source)
			source = filepath.ToSlash(rel)
		}
	}
	if source != "envoy/ratelimit" {
		t.Errorf("ratelimit reads its configuration from %s, which mounts %q, want envoy/ratelimit", configDir, source)
	}
	host, port, _ := strings.Cut(env("REDIS_URL"), ":")
	redis, ok := p.Services[host]
	if !ok {
		t.Errorf("REDIS_URL %q does not name a compose service", env("REDIS_URL"))
	} else if n, _ := strconv.Atoi(port); !exposes(redis, uint32(n)) {
		t.Errorf("REDIS_URL %q: service %s does not expose port %s", env("REDIS_URL"), host, port)
	}
	if _, ok := rl.DependsOn[host]; !ok {
		t.Errorf("ratelimit does not depend on %s", host)
	}

	// Every file of envoy/ratelimit is loaded by the service as a rate limit
	// configuration: each must be one.
	entries, err := os.ReadDir(inRepo("envoy/ratelimit"))
	if err != nil {
		t.Fatal(err)
	}
	domains := map[string]map[string]bool{} // domain -> top-level descriptor keys
	for _, e := range entries {
		f := path.Join("envoy/ratelimit", e.Name())
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		doc := readYAMLTree(t, inRepo(f))
		domain, keys, errs := checkRateLimitConfig(doc)
		for _, err := range errs {
			t.Errorf("%s: %v", f, err)
		}
		if domains[domain] != nil {
			t.Errorf("%s: domain %q defined twice", f, domain)
		}
		domains[domain] = keys
	}

	// The global limits of envoy/plugin.json are served.
	cfg := decodeJSON(t, "plugin.json", pluginJSON(t)).(map[string]any)
	globals := 0
	pols, _ := cfg["policies"].([]any)
	for i, pol := range pols {
		pm, _ := pol.(map[string]any)
		rlc, _ := pm["rate_limit"].(map[string]any)
		limits, _ := rlc["limits"].([]any)
		svc, _ := rlc["service"].(map[string]any)
		domain, _ := svc["domain"].(string)
		for j, l := range limits {
			lm, _ := l.(map[string]any)
			if lm["scope"] != "global" {
				continue
			}
			globals++
			key, _ := lm["descriptor_key"].(string)
			if domains[domain] == nil {
				t.Errorf("policies[%d].rate_limit: domain %q is not configured in envoy/ratelimit", i, domain)
			} else if !domains[domain][key] {
				t.Errorf("policies[%d].rate_limit.limits[%d]: descriptor key %q has no descriptor in domain %q", i, j, key, domain)
			}
		}
	}
	if globals == 0 {
		t.Error("envoy/plugin.json has no global limit: the ratelimit service would be unused")
	}
}

// checkRateLimitConfig validates an envoyproxy/ratelimit configuration
// document (domain, descriptors with key, optional value, rate_limit with a
// known unit and a positive requests_per_unit, nested descriptors) and
// returns its domain and top-level descriptor keys.
func checkRateLimitConfig(doc map[string]any) (string, map[string]bool, []error) {
	var errs []error
	domain, _ := doc["domain"].(string)
	if domain == "" {
		errs = append(errs, fmt.Errorf("domain is required"))
	}
	for k := range doc {
		if k != "domain" && k != "descriptors" {
			errs = append(errs, fmt.Errorf("unknown top-level key %q", k))
		}
	}
	keys := map[string]bool{}
	descs, _ := doc["descriptors"].([]any)
	if len(descs) == 0 {
		errs = append(errs, fmt.Errorf("no descriptors"))
	}
	var check func(path string, descs []any)
	check = func(p string, descs []any) {
		seen := map[string]bool{}
		for i, d := range descs {
			dp := fmt.Sprintf("%s[%d]", p, i)
			dm, ok := d.(map[string]any)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: not a mapping", dp))
				continue
			}
			for k := range dm {
				switch k {
				case "key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric", "value_to_metric":
				default:
					errs = append(errs, fmt.Errorf("%s: unknown key %q", dp, k))
				}
			}
			key, _ := dm["key"].(string)
			if key == "" {
				errs = append(errs, fmt.Errorf("%s: key is required", dp))
			}
			value, _ := dm["value"].(string)
			if seen[key+"\x00"+value] {
				errs = append(errs, fmt.Errorf("%s: duplicate descriptor %s=%s", dp, key, value))
			}
			seen[key+"\x00"+value] = true
			if p == "descriptors" {
				keys[key] = true
			}
			if rl, ok := dm["rate_limit"].(map[string]any); ok {
				unit, _ := rl["unit"].(string)
				switch strings.ToLower(unit) {
				case "second", "minute", "hour", "day", "week", "month", "year":
				default:
					errs = append(errs, fmt.Errorf("%s.rate_limit: unit %q", dp, unit))
				}
				if n, _ := rl["requests_per_unit"].(float64); n <= 0 || n != float64(int64(n)) {
					if rl["unlimited"] != true {
						errs = append(errs, fmt.Errorf("%s.rate_limit: requests_per_unit must be a positive integer", dp))
					}
				}
			} else if dm["descriptors"] == nil {
				errs = append(errs, fmt.Errorf("%s: neither rate_limit nor nested descriptors", dp))
			}
			if sub, ok := dm["descriptors"].([]any); ok {
				check(dp+".descriptors", sub)
			}
		}
	}
	check("descriptors", descs)
	return domain, keys, errs
}

// TestComposePrometheus checks that Prometheus loads deploy/prometheus.yml
// and scrapes Envoy's admin endpoint where envoy.yaml puts it.
func TestComposePrometheus(t *testing.T) {
	p := loadCompose(t)
	root, _ := filepath.Abs(repoRoot)
	prom, ok := p.Services["prometheus"]
	if !ok {
		t.Fatal("no prometheus service")
	}
	configPath := ""
	for _, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			configPath = v
		}
	}
	var source string
	for _, v := range prom.Volumes {
		if v.Target == configPath {
			rel, _ := filepath.Rel(root, v.Source)
			source = filepath.ToSlash(rel)
		}
	}
	if source != "deploy/prometheus.yml" {
		t.Fatalf("prometheus reads %q, which mounts %q, want deploy/prometheus.yml", configPath, source)
	}
	doc := readYAMLTree(t, inRepo(source))
	found := false
	jobs, _ := doc["scrape_configs"].([]any)
	for _, j := range jobs {
		jm, _ := j.(map[string]any)
		if jm["metrics_path"] != "/stats/prometheus" {
			continue
		}
		scs, _ := jm["static_configs"].([]any)
		for _, sc := range scs {
			scm, _ := sc.(map[string]any)
			targets, _ := scm["targets"].([]any)
			for _, tg := range targets {
				if tg == fmt.Sprintf("envoy:%d", adminPort) {
					found = true
				}
			}
		}
	}
	if !found {
		t.Errorf("deploy/prometheus.yml has no job scraping envoy:%d/stats/prometheus", adminPort)
	}
	if _, ok := prom.DependsOn["envoy"]; !ok {
		t.Error("prometheus does not depend on envoy")
	}
	if _, ok := p.Services["envoy"]; !ok {
		t.Error("no envoy service to scrape")
	}

	// rule_files: Prometheus resolves a relative path against the directory
	// of its configuration file; each must be a mounted file of the
	// repository, and deploy/breakwater.rules.yml (envoy/rules_test.go) one
	// of them.
	mountOf := map[string]string{} // container path -> repository path
	for _, v := range prom.Volumes {
		rel, _ := filepath.Rel(root, v.Source)
		mountOf[v.Target] = filepath.ToSlash(rel)
	}
	ruleFiles, _ := doc["rule_files"].([]any)
	loaded := map[string]bool{}
	for _, rf := range ruleFiles {
		f, _ := rf.(string)
		if !path.IsAbs(f) {
			f = path.Join(path.Dir(configPath), f)
		}
		src, ok := mountOf[f]
		if !ok {
			t.Errorf("prometheus loads rule file %s, which no volume mounts", f)
			continue
		}
		loaded[src] = true
	}
	if !loaded[rulesPath] {
		t.Errorf("prometheus does not load %s (rule_files %v, mounts %v)", rulesPath, ruleFiles, mountOf)
	}
}

// TestComposeGrafana checks that Grafana is provisioned with a Prometheus
// datasource pointing at the prometheus service and with a dashboard
// provider reading the directory deploy/grafana/dashboards is mounted at.
func TestComposeGrafana(t *testing.T) {
	p := loadCompose(t)
	root, _ := filepath.Abs(repoRoot)
	g, ok := p.Services["grafana"]
	if !ok {
		t.Fatal("no grafana service")
	}
	mountOf := map[string]string{} // repository path -> container path
	for _, v := range g.Volumes {
		rel, _ := filepath.Rel(root, v.Source)
		mountOf[filepath.ToSlash(rel)] = v.Target
	}
	// Grafana reads provisioning from /etc/grafana/provisioning (its
	// paths.provisioning default), each kind in its own subdirectory.
	if mountOf["deploy/grafana/provisioning"] != "/etc/grafana/provisioning" {
		t.Errorf("deploy/grafana/provisioning is mounted at %q, want /etc/grafana/provisioning", mountOf["deploy/grafana/provisioning"])
	}
	if _, ok := g.DependsOn["prometheus"]; !ok {
		t.Error("grafana does not depend on prometheus")
	}

	// The datasource: the prometheus service on the port it listens on.
	prom := p.Services["prometheus"]
	doc := readYAMLTree(t, inRepo(grafanaDatasources))
	if doc["apiVersion"] != float64(1) {
		t.Errorf("%s: apiVersion %v, want 1", grafanaDatasources, doc["apiVersion"])
	}
	found := false
	dss, _ := doc["datasources"].([]any)
	for _, d := range dss {
		dm, _ := d.(map[string]any)
		if dm["type"] != "prometheus" {
			continue
		}
		found = true
		u, _ := dm["url"].(string)
		host, port, _ := strings.Cut(strings.TrimPrefix(u, "http://"), ":")
		if host != "prometheus" {
			t.Errorf("datasource url %q does not name the prometheus service", u)
		}
		n, _ := strconv.Atoi(port)
		if !exposes(prom, uint32(n)) {
			t.Errorf("datasource url %q: the prometheus service does not listen on %s", u, port)
		}
		if flagValue(prom.Command, "--web.listen-address") != "" {
			t.Errorf("prometheus sets --web.listen-address; the datasource assumes its default :9090")
		}
		if dm["access"] != "proxy" {
			t.Errorf("datasource access %v, want proxy (the browser cannot resolve the service name)", dm["access"])
		}
	}
	if !found {
		t.Fatalf("%s: no prometheus datasource", grafanaDatasources)
	}

	// The dashboard provider reads the directory the dashboards are mounted at.
	prov := readYAMLTree(t, inRepo("deploy/grafana/provisioning/dashboards/breakwater.yml"))
	providers, _ := prov["providers"].([]any)
	dashDir := mountOf[path.Dir(dashboardPath)]
	ok = false
	for _, pr := range providers {
		pm, _ := pr.(map[string]any)
		opts, _ := pm["options"].(map[string]any)
		if pm["type"] == "file" && opts["path"] == dashDir {
			ok = true
		}
	}
	if dashDir == "" || !ok {
		t.Errorf("no file dashboard provider reads %q, where %s is mounted", dashDir, path.Dir(dashboardPath))
	}
	// The home dashboard setting names the mounted file.
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != nil && *home != path.Join(dashDir, path.Base(dashboardPath)) {
		t.Errorf("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH %q is not the mounted dashboard", *home)
	}
}

// flagValue returns the value of the first of the given flags in args
// ("-c FILE" or "-c=FILE").
func flagValue(args []string, flags ...string) string {
	for i, a := range args {
		for _, f := range flags {
			if a == f && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, f+"="); ok {
				return v
			}
		}
	}
	return ""
}

// exposes reports whether a service declares port in expose or ports.
func exposes(s types.ServiceConfig, port uint32) bool {
	for _, e := range s.Expose {
		if e == strconv.Itoa(int(port)) || e == strconv.Itoa(int(port))+"/tcp" {
			return true
		}
	}
	for _, pc := range s.Ports {
		if pc.Target == port {
			return true
		}
	}
	return false
}

// TestComposeRateLimitMatchesMakefile: compose runs the envoyproxy/ratelimit
// commit the tests build (the Makefile's RATELIMIT_VERSION, a Go
// pseudo-version ending in the commit's 12 hex digits); the project's images
// are tagged with the commit's first 8.
func TestComposeRateLimitMatchesMakefile(t *testing.T) {
	mk, err := os.ReadFile(inRepo("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RATELIMIT_VERSION := (v[0-9.]+-[0-9.]+-([0-9a-f]{12}))$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no RATELIMIT_VERSION := <pseudo-version> in the Makefile")
	}
	commit := string(m[2])
	img := loadCompose(t).Services["ratelimit"].Image
	if want := "envoyproxy/ratelimit:" + commit[:8]; img != want {
		t.Errorf("compose runs %s, the tests build %s (commit %s): want %s", img, m[1], commit, want)
	}
}

// TestComposeDeadLetterSink checks the dlq service: it runs `breakwater dlq
// serve` (built by deploy/dlq.Dockerfile) listening on the port the envoy
// cluster "dlq" targets, and its --redis URL names the redis service.
func TestComposeDeadLetterSink(t *testing.T) {
	p := loadCompose(t)
	s, ok := p.Services["dlq"]
	if !ok {
		t.Fatal("no dlq service")
	}
	if s.Build == nil || s.Build.Dockerfile != "deploy/dlq.Dockerfile" {
		t.Errorf("dlq is not built by deploy/dlq.Dockerfile: %+v", s.Build)
	} else if _, err := os.Stat(inRepo(s.Build.Dockerfile)); err != nil {
		t.Error(err)
	}
	args := []string(s.Command)
	if len(args) < 2 || args[0] != "dlq" || args[1] != "serve" {
		t.Fatalf("dlq command %v, want dlq serve ...", args)
	}
	_, port, _ := strings.Cut(flagValue(args, "--listen"), ":")
	if port != strconv.Itoa(dlqPort) {
		t.Errorf("dlq listens on %q, the envoy cluster targets port %d", flagValue(args, "--listen"), dlqPort)
	}
	if n, _ := strconv.Atoi(port); !exposes(s, uint32(n)) {
		t.Errorf("dlq does not expose its port %s", port)
	}
	u := strings.TrimPrefix(flagValue(args, "--redis"), "redis://")
	hostPort, _, _ := strings.Cut(u, "/")
	host, rport, _ := strings.Cut(hostPort, ":")
	redis, ok := p.Services[host]
	if !ok {
		t.Errorf("--redis %q does not name a compose service", flagValue(args, "--redis"))
	} else if n, _ := strconv.Atoi(rport); !exposes(redis, uint32(n)) {
		t.Errorf("--redis %q: service %s does not expose port %s", flagValue(args, "--redis"), host, rport)
	}
	if _, ok := s.DependsOn[host]; !ok {
		t.Errorf("dlq does not depend on %s", host)
	}
}
