package envoy

import (
	"encoding/json"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	extensionsv1alpha1 "istio.io/api/extensions/v1alpha1"
	typev1beta1 "istio.io/api/type/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const wasmPluginPath = "istio/wasmplugin.yaml"

// clientPluginPath is the client-side (outbound) example for one destination.
const clientPluginPath = "istio/wasmplugin-client.yaml"

// wasmPluginPaths are every WasmPlugin manifest of the repository.
var wasmPluginPaths = []string{wasmPluginPath, clientPluginPath}

// pinnedURL is an OCI reference pinned by manifest digest, as `make image`
// prints it: oci://REGISTRY/REPOSITORY@sha256:64 hex digits.
var pinnedURL = regexp.MustCompile(`^oci://[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[a-f0-9]{64}$`)

// The rate limit service as the Istio WasmPlugin addresses it: Istio names
// the cluster of a Kubernetes Service port outbound|PORT||FQDN.
var istioClusterName = regexp.MustCompile(`^outbound\|([0-9]+)\|\|([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$`)

// loadWasmPlugin parses the manifest's spec into istio.io/api's WasmPlugin
// (unknown fields rejected, enums by name) and returns the whole manifest as
// generic JSON too.
func loadWasmPlugin(t *testing.T, path string) (*extensionsv1alpha1.WasmPlugin, map[string]any) {
	t.Helper()
	return parseWasmPlugin(t, path, readYAMLTree(t, path))
}

// parseWasmPlugin checks apiVersion/kind of a manifest already read as
// generic JSON and parses its spec into istio.io/api's WasmPlugin.
func parseWasmPlugin(t *testing.T, what string, doc map[string]any) (*extensionsv1alpha1.WasmPlugin, map[string]any) {
	t.Helper()
	if doc["apiVersion"] != "extensions.istio.io/v1alpha1" || doc["kind"] != "WasmPlugin" {
		t.Fatalf("%s: apiVersion/kind = %v/%v, want extensions.istio.io/v1alpha1/WasmPlugin", what, doc["apiVersion"], doc["kind"])
	}
	spec, err := json.Marshal(doc["spec"])
	if err != nil {
		t.Fatal(err)
	}
	var wp extensionsv1alpha1.WasmPlugin
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(spec, &wp); err != nil {
		t.Fatalf("%s: spec does not parse as istio.extensions.v1alpha1.WasmPlugin: %v", what, err)
	}
	return &wp, doc
}

// istioPluginConfig is the server-side manifest's pluginConfig as generic JSON.
func istioPluginConfig(t *testing.T) map[string]any { return pluginConfigOf(t, wasmPluginPath) }

// pluginConfigOf is a manifest's pluginConfig as generic JSON, as Istio
// serializes it for the plugin.
func pluginConfigOf(t *testing.T, path string) map[string]any {
	t.Helper()
	wp, _ := loadWasmPlugin(t, path)
	js, err := protojson.Marshal(wp.GetPluginConfig())
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWasmPluginValid checks every manifest against the rules of Istio's
// WasmPlugin CRD (the kubebuilder validations in istio.io/api's wasm.proto,
// which the API server enforces) and the choices this project made.
func TestWasmPluginValid(t *testing.T) {
	for _, path := range wasmPluginPaths {
		t.Run(path, func(t *testing.T) {
			wp, doc := loadWasmPlugin(t, path)
			checkWasmPlugin(t, wp, doc)
		})
	}
}

// checkWasmPlugin applies the CRD's rules and the project's choices common
// to every manifest.
func checkWasmPlugin(t *testing.T, wp *extensionsv1alpha1.WasmPlugin, doc map[string]any) {
	t.Helper()

	meta, _ := doc["metadata"].(map[string]any)
	if name, _ := meta["name"].(string); name == "" {
		t.Error("metadata.name is required")
	}

	// oneof(selector, targetRef, targetRefs), and one of them is needed so
	// the plugin does not land on every workload of the namespace by
	// accident.
	set := 0
	if wp.GetSelector() != nil {
		set++
		if len(wp.GetSelector().GetMatchLabels()) == 0 {
			t.Error("selector has no matchLabels")
		}
	}
	if wp.GetTargetRef() != nil {
		set++
	}
	if len(wp.GetTargetRefs()) > 0 {
		set++
	}
	if len(wp.GetTargetRefs()) > 16 {
		t.Error("targetRefs: at most 16 items")
	}
	if set != 1 {
		t.Errorf("exactly one of selector, targetRef, targetRefs must be set, got %d", set)
	}

	// url: required, scheme in [http, https, file, oci]; here an OCI image.
	if wp.GetUrl() == "" {
		t.Fatal("url is required")
	}
	u, err := url.Parse(wp.GetUrl())
	if err != nil {
		t.Fatalf("url %q: %v", wp.GetUrl(), err)
	}
	if u.Scheme != "oci" {
		t.Errorf("url scheme %q, want oci (the plugin is shipped as an OCI image)", u.Scheme)
	}
	if u.Host == "" || strings.Trim(u.Path, "/") == "" {
		t.Errorf("url %q: want oci://REGISTRY/REPOSITORY:TAG", wp.GetUrl())
	}
	if !strings.Contains(u.Path, ":") && !strings.Contains(u.Path, "@sha256:") {
		t.Errorf("url %q has no tag or digest", wp.GetUrl())
	}
	if strings.HasSuffix(u.Path, ":latest") {
		t.Errorf("url %q uses :latest; pin a release", wp.GetUrl())
	}
	// Pinned by the manifest digest `make image` prints (a tag can move).
	if !pinnedURL.MatchString(wp.GetUrl()) {
		t.Errorf("url %q: want oci://REGISTRY/REPOSITORY@sha256:<64 hex>, the digest make image prints", wp.GetUrl())
	}
	if s := wp.GetSha256(); s != "" && !regexp.MustCompile(`^[a-f0-9]{64}$`).MatchString(s) {
		t.Errorf("sha256 %q: want 64 lowercase hex digits", s)
	}
	if s := wp.GetImagePullSecret(); s != "" && len(s) > 253 {
		t.Error("imagePullSecret longer than 253")
	}
	if n := wp.GetPluginName(); n == "" || len(n) > 256 {
		t.Errorf("pluginName %q: want 1 to 256 characters", n)
	}

	// Inserted just before the router (see the comment in the manifest),
	// stated, and last among the plugins of its phase.
	if spec, _ := doc["spec"].(map[string]any); wp.GetPhase() != extensionsv1alpha1.PluginPhase_UNSPECIFIED_PHASE || spec["phase"] != "UNSPECIFIED_PHASE" {
		t.Errorf("phase = %v, want UNSPECIFIED_PHASE (end of the chain, before the router), stated in the file", wp.GetPhase())
	}
	if wp.GetPriority() == nil || wp.GetPriority().GetValue() != -1000 {
		t.Errorf("priority = %v, want -1000 (the last plugin of the phase)", wp.GetPriority())
	}
	if wp.GetType() != extensionsv1alpha1.PluginType_HTTP {
		t.Errorf("type = %v, want HTTP", wp.GetType())
	}
	if wp.GetFailStrategy() != extensionsv1alpha1.FailStrategy_FAIL_RELOAD {
		t.Errorf("failStrategy = %v, want FAIL_RELOAD", wp.GetFailStrategy())
	}

	// vmConfig.env: at most 256, names 1..256 and unique, values at most
	// 2048, a HOST variable has no value.
	env := wp.GetVmConfig().GetEnv()
	if len(env) > 256 {
		t.Error("vmConfig.env: at most 256 items")
	}
	names := map[string]bool{}
	for _, e := range env {
		if n := e.GetName(); n == "" || len(n) > 256 {
			t.Errorf("vmConfig.env name %q: want 1 to 256 characters", n)
		}
		if names[e.GetName()] {
			t.Errorf("vmConfig.env: %q twice", e.GetName())
		}
		names[e.GetName()] = true
		if len(e.GetValue()) > 2048 {
			t.Errorf("vmConfig.env %s: value longer than 2048", e.GetName())
		}
		if e.GetValueFrom() == extensionsv1alpha1.EnvValueSource_HOST && e.GetValue() != "" {
			t.Errorf("vmConfig.env %s: value may only be set when valueFrom is INLINE", e.GetName())
		}
	}

	if wp.GetPluginConfig() == nil {
		t.Fatal("pluginConfig is required: the filter refuses to start without a configuration")
	}
}

// TestWasmPluginConfigMatchesPluginJSON checks that pluginConfig is
// envoy/plugin.json, except that the rate limit service is addressed by its
// Istio cluster name (outbound|8080||ratelimit.NAMESPACE.svc.cluster.local)
// and the matching authority.
func TestWasmPluginConfigMatchesPluginJSON(t *testing.T) {
	got := istioPluginConfig(t)
	want := decodeJSON(t, "plugin.json", pluginJSON(t)).(map[string]any)

	services := 0
	pols, _ := got["policies"].([]any)
	wantPols, _ := want["policies"].([]any)
	for i, p := range pols {
		svc := rateLimitService(p)
		if svc == nil {
			continue
		}
		services++
		cluster, _ := svc["cluster"].(string)
		m := istioClusterName.FindStringSubmatch(cluster)
		if m == nil {
			t.Errorf("policies[%d].rate_limit.service.cluster = %q, want outbound|PORT||SERVICE.NAMESPACE.svc.cluster.local", i, cluster)
			continue
		}
		if m[1] != "8080" || m[2] != "ratelimit" {
			t.Errorf("policies[%d].rate_limit.service.cluster = %q, want the HTTP port 8080 of Service ratelimit", i, cluster)
		}
		if auth, _ := svc["authority"].(string); auth != m[2]+"."+m[3]+".svc.cluster.local" {
			t.Errorf("policies[%d].rate_limit.service.authority = %q, want %s.%s.svc.cluster.local", i, auth, m[2], m[3])
		}
		// Put plugin.json's values in place to compare everything else.
		if i < len(wantPols) {
			if ws := rateLimitService(wantPols[i]); ws != nil {
				svc["cluster"], svc["authority"] = ws["cluster"], ws["authority"]
			}
		}
	}
	if services == 0 {
		t.Error("pluginConfig calls no rate limit service; the global limit example is gone")
	}
	sinks := 0
	for i, p := range pols {
		dl := deadLetter(p)
		if dl == nil {
			continue
		}
		sinks++
		cluster, _ := dl["cluster"].(string)
		if cluster != dlqIstioCluster(t) {
			t.Errorf("policies[%d].dead_letter.cluster = %q, want %q (the Service of %s)", i, cluster, dlqIstioCluster(t), dlqManifestPath)
		}
		if i < len(wantPols) {
			if wd := deadLetter(wantPols[i]); wd != nil {
				dl["cluster"] = wd["cluster"]
			}
		}
	}
	if sinks == 0 {
		t.Error("pluginConfig has no dead_letter block; the dead-letter example is gone")
	}
	requireSameJSON(t, "the WasmPlugin's pluginConfig (cluster names aside)", any(got), any(want))
}

func deadLetter(policy any) map[string]any {
	pm, _ := policy.(map[string]any)
	dl, _ := pm["dead_letter"].(map[string]any)
	return dl
}

const dlqManifestPath = "istio/dlq.yaml"

// dlqManifest returns the Service and the Deployment of envoy/istio/dlq.yaml.
func dlqManifest(t *testing.T) (svc, dep map[string]any) {
	t.Helper()
	data, err := os.ReadFile(inRepo("envoy/" + dlqManifestPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", dlqManifestPath, err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatalf("%s: %v", dlqManifestPath, err)
		}
		switch {
		case m["apiVersion"] == "v1" && m["kind"] == "Service":
			svc = m
		case m["apiVersion"] == "apps/v1" && m["kind"] == "Deployment":
			dep = m
		default:
			t.Fatalf("%s: unexpected document %v/%v", dlqManifestPath, m["apiVersion"], m["kind"])
		}
	}
	if svc == nil || dep == nil {
		t.Fatalf("%s: want a Service and a Deployment", dlqManifestPath)
	}
	return svc, dep
}

func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// dlqIstioCluster is the cluster name Istio gives the sink's Service port.
func dlqIstioCluster(t *testing.T) string {
	svc, _ := dlqManifest(t)
	port, _ := dig(svc, "spec", "ports", 0, "port").(float64)
	return "outbound|" + strconv.Itoa(int(port)) + "||" + dig(svc, "metadata", "name").(string) + "." +
		dig(svc, "metadata", "namespace").(string) + ".svc.cluster.local"
}

// TestDeadLetterSinkManifest: both documents decode strictly (unknown
// fields rejected) into k8s.io/api's Service and Deployment, with valid
// names, labels and ports (apimachinery's validation helpers); the Service
// selects the Deployment's pods and forwards to the port the container
// serves (--listen) and declares, and the container runs `dlq serve` with a
// Redis URL.
func TestDeadLetterSinkManifest(t *testing.T) {
	svc, dep := dlqManifest(t)
	var ks corev1.Service
	var kd appsv1.Deployment
	for _, c := range []struct {
		doc map[string]any
		dst any
	}{{svc, &ks}, {dep, &kd}} {
		js, _ := json.Marshal(c.doc)
		if err := yaml.UnmarshalStrict(js, c.dst); err != nil {
			t.Fatalf("%s: %v", dlqManifestPath, err)
		}
	}
	for what, errs := range map[string][]string{
		"Service name":         validation.IsDNS1035Label(ks.Name),
		"Service namespace":    validation.IsDNS1123Label(ks.Namespace),
		"Deployment name":      validation.IsDNS1123Subdomain(kd.Name),
		"Deployment namespace": validation.IsDNS1123Label(kd.Namespace),
	} {
		if len(errs) > 0 {
			t.Errorf("%s: %v", what, errs)
		}
	}
	if len(ks.Spec.Ports) != 1 || len(validation.IsValidPortNum(int(ks.Spec.Ports[0].Port))) > 0 ||
		ks.Spec.Ports[0].TargetPort.IntValue() != int(ks.Spec.Ports[0].Port) {
		t.Errorf("Service ports %+v: want one port, target = port", ks.Spec.Ports)
	}
	if len(kd.Spec.Template.Spec.Containers) != 1 || kd.Spec.Template.Spec.Containers[0].Image == "" ||
		!strings.Contains(kd.Spec.Template.Spec.Containers[0].Image, ":") {
		t.Errorf("Deployment: want one container with a tagged image")
	}
	for k, v := range kd.Spec.Template.Labels {
		if len(validation.IsQualifiedName(k)) > 0 || len(validation.IsValidLabelValue(v)) > 0 {
			t.Errorf("label %s=%s is not valid", k, v)
		}
	}
	if dig(svc, "metadata", "namespace") != dig(dep, "metadata", "namespace") {
		t.Error("Service and Deployment in different namespaces")
	}
	sel, _ := dig(svc, "spec", "selector").(map[string]any)
	labels, _ := dig(dep, "spec", "template", "metadata", "labels").(map[string]any)
	match, _ := dig(dep, "spec", "selector", "matchLabels").(map[string]any)
	if len(sel) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range sel {
		if labels[k] != v || match[k] != v {
			t.Errorf("Service selector %s=%v does not select the Deployment's pods", k, v)
		}
	}
	target, _ := dig(svc, "spec", "ports", 0, "targetPort").(float64)
	c := dig(dep, "spec", "template", "spec", "containers", 0)
	var args []string
	for _, a := range dig(c, "args").([]any) {
		args = append(args, a.(string))
	}
	if len(args) < 2 || args[0] != "dlq" || args[1] != "serve" {
		t.Fatalf("container args %v, want dlq serve ...", args)
	}
	_, lport, _ := strings.Cut(flagValue(args, "--listen"), ":")
	if lport != strconv.Itoa(int(target)) {
		t.Errorf("container listens on %q, the Service targets port %v", flagValue(args, "--listen"), target)
	}
	if cp, _ := dig(c, "ports", 0, "containerPort").(float64); int(cp) != int(target) {
		t.Errorf("containerPort %v, Service targetPort %v", cp, target)
	}
	if !strings.HasPrefix(flagValue(args, "--redis"), "redis://") {
		t.Errorf("--redis %q, want a redis:// URL", flagValue(args, "--redis"))
	}
	if dig(c, "readinessProbe", "httpGet", "path") != "/healthz" {
		t.Error("no readiness probe on /healthz")
	}
}

func rateLimitService(policy any) map[string]any {
	pm, _ := policy.(map[string]any)
	rl, _ := pm["rate_limit"].(map[string]any)
	svc, _ := rl["service"].(map[string]any)
	return svc
}

// TestWasmPluginScope: the server-side manifest selects inbound traffic
// only; the client-side one outbound traffic to given ports, with policies
// that all match one destination's authority (no catch-all), so no other
// destination shares its breaker or bulkhead.
func TestWasmPluginScope(t *testing.T) {
	server, _ := loadWasmPlugin(t, wasmPluginPath)
	if m := server.GetMatch(); len(m) != 1 || m[0].GetMode() != typev1beta1.WorkloadMode_SERVER || len(m[0].GetPorts()) != 0 {
		t.Errorf("%s: match %v, want exactly [{mode: SERVER}] (the default is CLIENT_AND_SERVER)", wasmPluginPath, m)
	}
	client, _ := loadWasmPlugin(t, clientPluginPath)
	m := client.GetMatch()
	if len(m) != 1 || m[0].GetMode() != typev1beta1.WorkloadMode_CLIENT || len(m[0].GetPorts()) == 0 {
		t.Fatalf("%s: match %v, want one {mode: CLIENT, ports: [...]}", clientPluginPath, m)
	}
	for _, p := range m[0].GetPorts() {
		if p.GetNumber() < 1 || p.GetNumber() > 65535 {
			t.Errorf("%s: port %d out of 1..65535", clientPluginPath, p.GetNumber())
		}
	}
	pols, _ := pluginConfigOf(t, clientPluginPath)["policies"].([]any)
	if len(pols) == 0 {
		t.Fatalf("%s: no policies", clientPluginPath)
	}
	authority := ""
	for i, p := range pols {
		pm, _ := p.(map[string]any)
		match, _ := pm["match"].(map[string]any)
		a, _ := match["authority"].(string)
		if a == "" || (authority != "" && a != authority) {
			t.Errorf("%s: policies[%d] match.authority %q: every policy must match the one destination (%q)", clientPluginPath, i, a, authority)
		}
		authority = a
	}
	if server.GetUrl() != client.GetUrl() {
		t.Errorf("the two manifests pull different images: %s, %s", server.GetUrl(), client.GetUrl())
	}
}
