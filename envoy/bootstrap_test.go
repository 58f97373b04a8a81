package envoy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	// Every extension type that envoy.yaml names in a typed_config must be
	// registered, or protojson cannot resolve the Any and the test fails, as
	// Envoy would. Keep this list in step with the "@type" lines of
	// envoy.yaml.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
)

// Addresses and names that docker-compose.yml, the README and the plugin
// depend on.
const (
	adminPort    = 9901
	listenerPort = 10000
	wasmPath     = "/etc/envoy/breakwater.wasm"
	wasmVMID     = "breakwater"
	wasmRuntime  = "envoy.wasm.runtime.v8"
	wasmFilter   = "envoy.filters.http.wasm"
	routerFilter = "envoy.filters.http.router"
	// The filters that give the plugin a trusted tier (README "Trust model").
	headerMutationFilter = "envoy.filters.http.header_mutation"
	jwtFilter            = "envoy.filters.http.jwt_authn"
	hcmFilter            = "envoy.filters.network.http_connection_manager"
	ratelimitPort        = 8080 // envoyproxy/ratelimit's HTTP port, which serves POST /json
	dlqPort              = 8090 // breakwater dlq serve, which accepts POST /records
)

// loadBootstrap parses envoy.yaml into Envoy's Bootstrap proto the way Envoy
// does: YAML to JSON, then the proto JSON mapping with unknown fields
// rejected and every Any resolved against the registered types.
func loadBootstrap(t *testing.T) *bootstrapv3.Bootstrap {
	t.Helper()
	js := readYAMLAsJSON(t, "envoy.yaml")
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &b); err != nil {
		t.Fatalf("envoy.yaml does not parse as envoy.config.bootstrap.v3.Bootstrap: %v", err)
	}
	return &b
}

// TestBootstrapValidates runs the protoc-gen-validate rules generated for
// Envoy's API (ValidateAll) on the bootstrap and on every message packed in
// an Any inside it (typed_config, plugin configuration: ValidateAll does not
// look inside an Any), and rejects deprecated fields and enum values.
func TestBootstrapValidates(t *testing.T) {
	b := loadBootstrap(t)
	errs := validateTree(b, "bootstrap")
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) == 0 {
		// The walk must actually have reached the embedded messages.
		seen := map[string]bool{}
		collectAnyTypes(b, seen)
		for _, want := range []string{
			"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
			"envoy.extensions.filters.http.wasm.v3.Wasm",
			"envoy.extensions.filters.http.router.v3.Router",
			"google.protobuf.StringValue",
			"envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
			"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
		} {
			if !seen[want] {
				t.Errorf("no %s found in envoy.yaml: the walk or the file is wrong", want)
			}
		}
	}
}

// validateTree validates m with its generated ValidateAll, then finds every
// Any below it, unpacks it and validates that message the same way.
func validateTree(m proto.Message, path string) []error {
	var errs []error
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	} else {
		errs = append(errs, fmt.Errorf("%s: %s has no generated validation", path, m.ProtoReflect().Descriptor().FullName()))
	}
	walk(m.ProtoReflect(), path, func(fd protoreflect.FieldDescriptor, p string) {
		if isDeprecatedField(fd) {
			errs = append(errs, fmt.Errorf("%s: field %s is deprecated", p, fd.FullName()))
		}
	}, func(ev protoreflect.EnumValueDescriptor, p string) {
		if opts, ok := ev.Options().(*descriptorpb.EnumValueOptions); ok && opts.GetDeprecated() {
			errs = append(errs, fmt.Errorf("%s: enum value %s is deprecated", p, ev.FullName()))
		}
	}, func(a *anypb.Any, p string) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: cannot unpack %s: %w", p, a.GetTypeUrl(), err))
			return
		}
		// Wrapper types (the plugin configuration) carry no rules.
		if _, isWrapper := inner.(*wrapperspb.StringValue); isWrapper {
			return
		}
		errs = append(errs, validateTree(inner, p+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")...)
	})
	return errs
}

func isDeprecatedField(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts.GetDeprecated()
}

// walk visits every populated field below m (not inside Any: onAny gets the
// Any and decides).
func walk(m protoreflect.Message, path string,
	onField func(protoreflect.FieldDescriptor, string),
	onEnum func(protoreflect.EnumValueDescriptor, string),
	onAny func(*anypb.Any, string)) {
	if m.Descriptor().FullName() == "google.protobuf.Any" {
		a, ok := m.Interface().(*anypb.Any)
		if !ok {
			// A dynamic Any: copy it into the concrete type.
			a = &anypb.Any{}
			proto.Merge(a, m.Interface())
		}
		onAny(a, path)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		onField(fd, p)
		visit := func(v protoreflect.Value, p string) {
			switch {
			case fd.Message() != nil && !fd.IsMap():
				walk(v.Message(), p, onField, onEnum, onAny)
			case fd.Enum() != nil:
				if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
					onEnum(ev, p)
				}
			}
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap():
			vd := fd.MapValue()
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				if vd.Message() != nil {
					walk(mv.Message(), fmt.Sprintf("%s[%v]", p, k.Interface()), onField, onEnum, onAny)
				}
				return true
			})
		default:
			visit(v, p)
		}
		return true
	})
}

// collectAnyTypes records the full names of every message packed in an Any
// below m, recursively.
func collectAnyTypes(m proto.Message, seen map[string]bool) {
	walk(m.ProtoReflect(), "", func(protoreflect.FieldDescriptor, string) {}, func(protoreflect.EnumValueDescriptor, string) {},
		func(a *anypb.Any, _ string) {
			inner, err := a.UnmarshalNew()
			if err != nil {
				return
			}
			seen[string(inner.ProtoReflect().Descriptor().FullName())] = true
			collectAnyTypes(inner, seen)
		})
}

// hcmOf unpacks the single listener's HTTP connection manager.
func hcmOf(t *testing.T, b *bootstrapv3.Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 {
		t.Fatalf("want exactly one listener, got %d", len(ls))
	}
	chains := ls[0].GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		t.Fatalf("want one filter chain with one network filter (the HTTP connection manager)")
	}
	f := chains[0].GetFilters()[0]
	if f.GetName() != hcmFilter {
		t.Fatalf("network filter is %q, want %q", f.GetName(), hcmFilter)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := f.GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		t.Fatalf("network filter config: %v", err)
	}
	return &hcm
}

// wasmOf unpacks the Wasm HTTP filter's plugin configuration.
func wasmOf(t *testing.T, hcm *hcmv3.HttpConnectionManager) *wasmv3.PluginConfig {
	t.Helper()
	for _, hf := range hcm.GetHttpFilters() {
		if hf.GetName() != wasmFilter {
			continue
		}
		var w wasmfilterv3.Wasm
		if err := hf.GetTypedConfig().UnmarshalTo(&w); err != nil {
			t.Fatalf("wasm filter config: %v", err)
		}
		return w.GetConfig()
	}
	t.Fatalf("no %s HTTP filter", wasmFilter)
	return nil
}

// embeddedPluginConfig is the plugin configuration string that envoy.yaml
// passes to the filter.
func embeddedPluginConfig(t *testing.T) []byte {
	t.Helper()
	pc := wasmOf(t, hcmOf(t, loadBootstrap(t)))
	var s wrapperspb.StringValue
	if err := pc.GetConfiguration().UnmarshalTo(&s); err != nil {
		t.Fatalf("plugin configuration must be a google.protobuf.StringValue (passed to the plugin as is): %v", err)
	}
	return []byte(s.GetValue())
}

// TestBootstrapShape checks what the other deployment files, the README and
// the filter rely on, beyond what the proto rules can say.
func TestBootstrapShape(t *testing.T) {
	b := loadBootstrap(t)

	if got := b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue(); got != adminPort {
		t.Errorf("admin port = %d, want %d", got, adminPort)
	}
	if got := b.GetStaticResources().GetListeners()[0].GetAddress().GetSocketAddress().GetPortValue(); got != listenerPort {
		t.Errorf("listener port = %d, want %d", got, listenerPort)
	}

	hcm := hcmOf(t, b)

	// The client's x-user-tier is removed, jwt_authn writes the verified
	// tier claim, then the wasm filter runs, before the router, which is
	// last (Envoy requires a terminal filter last; the filter's router
	// headers must reach it).
	var names []string
	for _, hf := range hcm.GetHttpFilters() {
		names = append(names, hf.GetName())
	}
	if want := []string{headerMutationFilter, jwtFilter, wasmFilter, routerFilter}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("HTTP filters = %v, want %v", names, want)
	}

	// One spelling per path at the proxy layer (README "Paths and
	// authorities").
	if !hcm.GetNormalizePath().GetValue() || !hcm.GetMergeSlashes() ||
		hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		t.Errorf("normalize_path %v, merge_slashes %v, path_with_escaped_slashes_action %v; want true, true, REJECT_REQUEST",
			hcm.GetNormalizePath().GetValue(), hcm.GetMergeSlashes(), hcm.GetPathWithEscapedSlashesAction())
	}

	pc := wasmOf(t, hcm)
	vm := pc.GetVmConfig()
	if vm.GetVmId() != wasmVMID {
		t.Errorf("vm_id = %q, want %q", vm.GetVmId(), wasmVMID)
	}
	if vm.GetRuntime() != wasmRuntime {
		t.Errorf("runtime = %q, want %q", vm.GetRuntime(), wasmRuntime)
	}
	if got := vm.GetCode().GetLocal().GetFilename(); got != wasmPath {
		t.Errorf("wasm code = %q, want local file %q", got, wasmPath)
	}
	if pc.GetFailurePolicy() != wasmv3.FailurePolicy_FAIL_RELOAD {
		t.Errorf("failure_policy = %v, want FAIL_RELOAD (a trapped VM is replaced)", pc.GetFailurePolicy())
	}

	// Clusters: unique names, every route target and every cluster the
	// plugin calls out to exists.
	clusters := map[string]*clusterv3.Cluster{}
	for _, c := range b.GetStaticResources().GetClusters() {
		if clusters[c.GetName()] != nil {
			t.Errorf("duplicate cluster %q", c.GetName())
		}
		clusters[c.GetName()] = c
	}
	for _, name := range []string{"upstream", "ratelimit", "dlq"} {
		if clusters[name] == nil {
			t.Errorf("no cluster %q", name)
		}
	}
	for _, name := range pluginClusters(t, embeddedPluginConfig(t)) {
		if clusters[name] == nil {
			t.Errorf("plugin configuration calls out to cluster %q, which envoy.yaml does not define", name)
		}
	}
	for _, ep := range endpointsOf(clusters["ratelimit"]) {
		if ep.GetPortValue() != ratelimitPort {
			t.Errorf("ratelimit endpoint %s:%d, want port %d (HTTP, POST /json)", ep.GetAddress(), ep.GetPortValue(), ratelimitPort)
		}
	}
	for _, ep := range endpointsOf(clusters["dlq"]) {
		if ep.GetPortValue() != dlqPort {
			t.Errorf("dlq endpoint %s:%d, want port %d (breakwater dlq serve, POST /records)", ep.GetAddress(), ep.GetPortValue(), dlqPort)
		}
	}

	routes := 0
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		// The filter reads the retries performed from x-envoy-attempt-count.
		if !vh.GetIncludeAttemptCountInResponse() {
			t.Errorf("virtual host %q: include_attempt_count_in_response is not set", vh.GetName())
		}
		for _, r := range vh.GetRoutes() {
			routes++
			checkRoute(t, r, clusters)
		}
	}
	if routes == 0 {
		t.Error("no routes")
	}
}

func checkRoute(t *testing.T, r *routev3.Route, clusters map[string]*clusterv3.Cluster) {
	t.Helper()
	ra := r.GetRoute()
	if ra == nil {
		t.Errorf("route %v is not a forwarding route", r.GetMatch())
		return
	}
	if clusters[ra.GetCluster()] == nil {
		t.Errorf("route targets cluster %q, which is not defined", ra.GetCluster())
	}
	rp := ra.GetRetryPolicy()
	if rp == nil {
		t.Fatal("route has no retry_policy: the filter's retries would have no back-off")
	}
	bo := rp.GetRetryBackOff()
	if got := bo.GetBaseInterval().AsDuration(); got != 25*time.Millisecond {
		t.Errorf("retry_back_off.base_interval = %v, want 25ms", got)
	}
	if got := bo.GetMaxInterval().AsDuration(); got != 250*time.Millisecond {
		t.Errorf("retry_back_off.max_interval = %v, want 250ms", got)
	}
	// The filter decides retries per request through headers; a route-level
	// retry_on would retry requests the filter chose not to retry.
	if rp.GetRetryOn() != "" {
		t.Errorf("route retry_on = %q, want empty (the filter sets x-envoy-retry-on)", rp.GetRetryOn())
	}
}

func endpointsOf(c *clusterv3.Cluster) []*corev3.SocketAddress {
	var out []*corev3.SocketAddress
	for _, le := range c.GetLoadAssignment().GetEndpoints() {
		for _, lb := range le.GetLbEndpoints() {
			out = append(out, lb.GetEndpoint().GetAddress().GetSocketAddress())
		}
	}
	return out
}

// pluginClusters lists the clusters a plugin configuration calls out to
// (policies[*].rate_limit.service.cluster, policies[*].dead_letter.cluster).
func pluginClusters(t *testing.T, cfg []byte) []string {
	t.Helper()
	root, _ := decodeJSON(t, "plugin configuration", cfg).(map[string]any)
	var out []string
	pols, _ := root["policies"].([]any)
	for _, p := range pols {
		pm, _ := p.(map[string]any)
		rl, _ := pm["rate_limit"].(map[string]any)
		svc, _ := rl["service"].(map[string]any)
		if c, ok := svc["cluster"].(string); ok {
			out = append(out, c)
		}
		dl, _ := pm["dead_letter"].(map[string]any)
		if c, ok := dl["cluster"].(string); ok {
			out = append(out, c)
		}
	}
	return out
}

// TestBootstrapEmbedsPluginJSON checks the single-source rule: the
// configuration envoy.yaml gives the filter is envoy/plugin.json.
func TestBootstrapEmbedsPluginJSON(t *testing.T) {
	got := decodeJSON(t, "envoy.yaml plugin configuration", embeddedPluginConfig(t))
	want := decodeJSON(t, "plugin.json", pluginJSON(t))
	requireSameJSON(t, "the plugin configuration embedded in envoy.yaml", got, want)
}

// TestValidateTreeCatchesErrors proves the validation walk is not vacuous:
// a broken message inside an Any, a deprecated field and an unknown type are
// each reported.
func TestValidateTreeCatchesErrors(t *testing.T) {
	// An HTTP connection manager without stat_prefix (required, min_len 1)
	// packed in a listener filter.
	bad, err := anypb.New(&hcmv3.HttpConnectionManager{})
	if err != nil {
		t.Fatal(err)
	}
	b := loadBootstrap(t)
	b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].ConfigType =
		&listenerv3.Filter_TypedConfig{TypedConfig: bad}
	if errs := validateTree(b, "bootstrap"); !containsErr(errs, "StatPrefix") {
		t.Errorf("missing stat_prefix inside an Any not reported; got %v", errs)
	}

	b = loadBootstrap(t)
	pc := wasmOf(t, hcmOf(t, b))
	pc.FailOpen = true // deprecated in favour of failure_policy
	w, _ := anypb.New(&wasmfilterv3.Wasm{Config: pc})
	hcm := hcmOf(t, b)
	for _, hf := range hcm.HttpFilters {
		if hf.GetName() == wasmFilter {
			hf.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: w}
		}
	}
	h, _ := anypb.New(hcm)
	b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].ConfigType =
		&listenerv3.Filter_TypedConfig{TypedConfig: h}
	if errs := validateTree(b, "bootstrap"); !containsErr(errs, "fail_open is deprecated") {
		t.Errorf("deprecated fail_open not reported; got %v", errs)
	}

	b = loadBootstrap(t)
	b.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].ConfigType =
		&listenerv3.Filter_TypedConfig{TypedConfig: &anypb.Any{TypeUrl: "type.googleapis.com/no.such.Type"}}
	if errs := validateTree(b, "bootstrap"); !containsErr(errs, "no.such.Type") {
		t.Errorf("unknown Any type not reported; got %v", errs)
	}
}

func containsErr(errs []error, substr string) bool {
	for _, e := range errs {
		if strings.Contains(e.Error(), substr) {
			return true
		}
	}
	return false
}

// TestTierFromTrustedSource (issue 10 item 8): the header the plugin reads
// the tier from (tier.from) is removed from the client's request by
// header_mutation and written only by jwt_authn from a verified token's
// claim, and the JWKS jwt_authn verifies with is a valid key set.
func TestTierFromTrustedSource(t *testing.T) {
	hcm := hcmOf(t, loadBootstrap(t))
	var removed []string
	var claims map[string]string
	for _, hf := range hcm.GetHttpFilters() {
		switch hf.GetName() {
		case headerMutationFilter:
			var hm headermutationv3.HeaderMutation
			if err := hf.GetTypedConfig().UnmarshalTo(&hm); err != nil {
				t.Fatal(err)
			}
			for _, m := range hm.GetMutations().GetRequestMutations() {
				if r := m.GetRemove(); r != "" {
					removed = append(removed, r)
				}
			}
		case jwtFilter:
			var ja jwtv3.JwtAuthentication
			if err := hf.GetTypedConfig().UnmarshalTo(&ja); err != nil {
				t.Fatal(err)
			}
			claims = map[string]string{}
			for name, p := range ja.GetProviders() {
				var jwks struct {
					Keys []struct{ Kty, N, E string }
				}
				if err := json.Unmarshal([]byte(p.GetLocalJwks().GetInlineString()), &jwks); err != nil || len(jwks.Keys) == 0 || jwks.Keys[0].N == "" {
					t.Errorf("provider %s: local_jwks is not a key set: %v", name, err)
				}
				for _, c := range p.GetClaimToHeaders() {
					claims[c.GetHeaderName()] = c.GetClaimName()
				}
			}
		}
	}
	var cfg struct {
		Policies []struct {
			Name      string
			RateLimit *struct {
				Limits []struct {
					Tier *struct{ From string }
				}
			} `json:"rate_limit"`
		}
	}
	if err := json.Unmarshal(embeddedPluginConfig(t), &cfg); err != nil {
		t.Fatal(err)
	}
	tiers := 0
	for _, p := range cfg.Policies {
		if p.RateLimit == nil {
			continue
		}
		for _, l := range p.RateLimit.Limits {
			if l.Tier == nil {
				continue
			}
			tiers++
			h, ok := strings.CutPrefix(l.Tier.From, "header:")
			if !ok {
				continue // a property (metadata) is not client-controlled
			}
			if !slices.Contains(removed, h) {
				t.Errorf("policy %s: tier.from %s: the client's copy is not removed before the plugin", p.Name, l.Tier.From)
			}
			if claims[h] == "" {
				t.Errorf("policy %s: tier.from %s: no jwt_authn claim_to_headers writes it", p.Name, l.Tier.From)
			}
		}
	}
	if tiers == 0 {
		t.Error("no tier in the plugin configuration: the test checks nothing")
	}
}
