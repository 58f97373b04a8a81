package envoy

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	jwtv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	securityv1beta1 "istio.io/api/security/v1beta1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// tierTrustPath holds the Istio objects that make the tier header of
// wasmplugin.yaml trustworthy: a RequestAuthentication writing it from a
// verified claim and a DENY AuthorizationPolicy for a header without a token.
const tierTrustPath = "istio/tier-jwt.yaml"

// claimHeaderName is the CRD pattern of ClaimToHeader.header (istio.io/api
// request_authentication.proto).
var claimHeaderName = regexp.MustCompile(`^[-_A-Za-z0-9]+$`)

// tierTrust is envoy/istio/tier-jwt.yaml decoded: both specs strictly into
// istio.io/api's types (security.istio.io/v1 aliases the v1beta1 messages),
// with their metadata.
type tierTrust struct {
	ra             *securityv1beta1.RequestAuthentication
	ap             *securityv1beta1.AuthorizationPolicy
	raMeta, apMeta map[string]any
}

func loadTierTrust(t *testing.T) tierTrust {
	t.Helper()
	data, err := os.ReadFile(tierTrustPath)
	if err != nil {
		t.Fatal(err)
	}
	var tt tierTrust
	for _, doc := range strings.Split(string(data), "\n---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tierTrustPath, err)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatalf("%s: %v", tierTrustPath, err)
		}
		if m["apiVersion"] != "security.istio.io/v1" {
			t.Fatalf("%s: apiVersion %v, want security.istio.io/v1", tierTrustPath, m["apiVersion"])
		}
		spec, _ := json.Marshal(m["spec"])
		meta, _ := m["metadata"].(map[string]any)
		strict := protojson.UnmarshalOptions{DiscardUnknown: false}
		switch m["kind"] {
		case "RequestAuthentication":
			tt.ra, tt.raMeta = &securityv1beta1.RequestAuthentication{}, meta
			err = strict.Unmarshal(spec, tt.ra)
		case "AuthorizationPolicy":
			tt.ap, tt.apMeta = &securityv1beta1.AuthorizationPolicy{}, meta
			err = strict.Unmarshal(spec, tt.ap)
		default:
			t.Fatalf("%s: unexpected kind %v", tierTrustPath, m["kind"])
		}
		if err != nil {
			t.Fatalf("%s: %v spec does not parse as istio.security.v1beta1.%v: %v", tierTrustPath, m["kind"], m["kind"], err)
		}
	}
	if tt.ra == nil || tt.ap == nil {
		t.Fatalf("%s: want a RequestAuthentication and an AuthorizationPolicy", tierTrustPath)
	}
	return tt
}

// tierHeaders lists the headers the server-side WasmPlugin's pluginConfig
// reads a tier from (tier.from: header:NAME), lower-cased.
func tierHeaders(t *testing.T) []string {
	t.Helper()
	var hs []string
	pols, _ := istioPluginConfig(t)["policies"].([]any)
	for _, p := range pols {
		limits, _ := dig(p, "rate_limit", "limits").([]any)
		for _, l := range limits {
			from, _ := dig(l, "tier", "from").(string)
			if h, ok := strings.CutPrefix(from, "header:"); ok {
				hs = append(hs, strings.ToLower(h))
			}
		}
	}
	return hs
}

// checkTierTrust returns what keeps a tier header of the WasmPlugin from
// being trusted under Istio, given the two objects, the WasmPlugin's
// namespace and selector, and the tier headers. Empty means: for every tier
// header, (a) the RequestAuthentication selects the same workload and writes
// the header from a claim of a verified token (jwt_authn removes the
// client's copy before it verifies), and (b) a DENY policy on the same
// workload refuses any request that still carries the header without a
// verified token (the paths jwt_authn bypasses). It also applies the CRD
// rules of both kinds that concern the fields used.
func checkTierTrust(tt tierTrust, ns string, labels map[string]string, headers []string) []string {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }

	for what, meta := range map[string]map[string]any{"RequestAuthentication": tt.raMeta, "AuthorizationPolicy": tt.apMeta} {
		name, _ := meta["name"].(string)
		if len(validation.IsDNS1123Subdomain(name)) > 0 {
			bad("%s: metadata.name %q is not a DNS-1123 subdomain", what, name)
		}
		if meta["namespace"] != ns {
			bad("%s: namespace %v, the WasmPlugin's is %s", what, meta["namespace"], ns)
		}
	}
	sameWorkload := func(what string, sel map[string]string, refs int) {
		if refs > 0 {
			bad("%s: targetRef(s) set; want the WasmPlugin's selector", what)
		}
		if len(sel) == 0 || !maps.Equal(sel, labels) {
			bad("%s: selector %v, want the WasmPlugin's %v (the tier must be trusted where the plugin reads it)", what, sel, labels)
		}
	}
	sameWorkload("RequestAuthentication", tt.ra.GetSelector().GetMatchLabels(), len(tt.ra.GetTargetRefs())+btoi(tt.ra.GetTargetRef() != nil))
	sameWorkload("AuthorizationPolicy", tt.ap.GetSelector().GetMatchLabels(), len(tt.ap.GetTargetRefs())+btoi(tt.ap.GetTargetRef() != nil))

	// RequestAuthentication: CRD rules on the rules used, and the claim
	// headers.
	written := map[string]bool{}
	rules := tt.ra.GetJwtRules()
	if len(rules) == 0 || len(rules) > 4096 {
		bad("RequestAuthentication: %d jwtRules, want 1..4096", len(rules))
	}
	for i, r := range rules {
		if r.GetIssuer() == "" {
			bad("jwtRules[%d]: issuer is required", i)
		}
		if (r.GetJwks() == "") == (r.GetJwksUri() == "") {
			bad("jwtRules[%d]: exactly one of jwks and jwksUri must be set", i)
		}
		if u := r.GetJwksUri(); u != "" {
			if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || len(u) > 2048 {
				bad("jwtRules[%d]: jwksUri %q: want an http(s) URL of at most 2048 characters", i, u)
			}
		}
		if j := r.GetJwks(); j != "" {
			var set struct {
				Keys []struct{ Kty, N, E string }
			}
			if err := json.Unmarshal([]byte(j), &set); err != nil || len(set.Keys) == 0 || set.Keys[0].Kty == "" {
				bad("jwtRules[%d]: jwks is not a JSON Web Key Set: %v", i, err)
			}
		}
		if r.GetPresence() != securityv1beta1.JWTRule_OPTIONAL {
			bad("jwtRules[%d]: presence %v: the example keeps a token optional (no token: default tier)", i, r.GetPresence())
		}
		seen := map[string]bool{}
		for _, c := range r.GetOutputClaimToHeaders() {
			h := strings.ToLower(c.GetHeader())
			if !claimHeaderName.MatchString(c.GetHeader()) || c.GetClaim() == "" {
				bad("jwtRules[%d]: outputClaimToHeaders {%q, %q}: header must match %s, claim non-empty", i, c.GetHeader(), c.GetClaim(), claimHeaderName)
			}
			if seen[h] {
				bad("jwtRules[%d]: header %s written twice (each must be unique)", i, h)
			}
			seen[h] = true
			written[h] = true
		}
	}

	// AuthorizationPolicy: a DENY rule per tier header that matches every
	// request without a verified token carrying it, and nothing narrower.
	denied := map[string]bool{}
	if tt.ap.GetAction() != securityv1beta1.AuthorizationPolicy_DENY {
		bad("AuthorizationPolicy: action %v, want DENY", tt.ap.GetAction())
	} else {
		for _, r := range tt.ap.GetRules() {
			for _, c := range r.GetWhen() {
				if c.GetKey() == "" || (len(c.GetValues()) == 0 && len(c.GetNotValues()) == 0) {
					bad("AuthorizationPolicy: condition %v: key and one of values/notValues are required", c)
				}
			}
			if len(r.GetTo()) > 0 || len(r.GetFrom()) != 1 || len(r.GetWhen()) != 1 {
				continue
			}
			src := r.GetFrom()[0].GetSource()
			want := &securityv1beta1.Source{NotRequestPrincipals: []string{"*"}}
			if !proto.Equal(src, want) {
				continue
			}
			c := r.GetWhen()[0]
			k, ok := strings.CutPrefix(c.GetKey(), "request.headers[")
			if !ok || !strings.HasSuffix(k, "]") || !slices.Equal(c.GetValues(), []string{"*"}) || len(c.GetNotValues()) > 0 {
				continue
			}
			denied[strings.ToLower(strings.TrimSuffix(k, "]"))] = true
		}
	}

	for _, h := range headers {
		if !written[h] {
			bad("tier header %s: no outputClaimToHeaders writes it, so the client's value reaches the plugin", h)
		}
		if !denied[h] {
			bad("tier header %s: no DENY rule {from: [{source: {notRequestPrincipals: [\"*\"]}}], when: [{key: request.headers[%s], values: [\"*\"]}]} refuses it without a verified token", h, h)
		}
	}
	return errs
}

// TestTierTrustedUnderIstio: envoy/istio/tier-jwt.yaml decodes strictly
// into istio.io/api's RequestAuthentication and AuthorizationPolicy, selects
// the workload of wasmplugin.yaml, writes every header its pluginConfig
// reads a tier from from a verified claim, and denies that header on a
// request without a verified token; the JWKS and issuer are envoy.yaml's
// placeholder provider's. A self-test proves the check reports each broken
// variant.
func TestTierTrustedUnderIstio(t *testing.T) {
	tt := loadTierTrust(t)
	wp, doc := loadWasmPlugin(t, wasmPluginPath)
	ns, _ := dig(doc, "metadata", "namespace").(string)
	labels := wp.GetSelector().GetMatchLabels()
	headers := tierHeaders(t)
	if len(headers) == 0 {
		t.Fatal("the WasmPlugin's pluginConfig reads no tier from a header: the test checks nothing")
	}
	for _, e := range checkTierTrust(tt, ns, labels, headers) {
		t.Error(e)
	}

	// One placeholder identity provider for both deployments.
	var ja jwtv3.JwtAuthentication
	for _, hf := range hcmOf(t, loadBootstrap(t)).GetHttpFilters() {
		if hf.GetName() == jwtFilter {
			if err := hf.GetTypedConfig().UnmarshalTo(&ja); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, p := range ja.GetProviders() {
		r := tt.ra.GetJwtRules()[0]
		if p.GetIssuer() != r.GetIssuer() || p.GetLocalJwks().GetInlineString() != r.GetJwks() {
			t.Errorf("%s: issuer/jwks differ from envoy.yaml's provider (keep one placeholder)", tierTrustPath)
		}
	}

	// Self-test: each change below must be reported.
	for name, mutate := range map[string]func(*tierTrust){
		"claim header removed": func(x *tierTrust) { x.ra.JwtRules[0].OutputClaimToHeaders = nil },
		"claim to another header": func(x *tierTrust) {
			x.ra.JwtRules[0].OutputClaimToHeaders[0].Header = "x-tier"
		},
		"action ALLOW": func(x *tierTrust) { x.ap.Action = securityv1beta1.AuthorizationPolicy_ALLOW },
		"DENY only for one path": func(x *tierTrust) {
			x.ap.Rules[0].To = []*securityv1beta1.Rule_To{{Operation: &securityv1beta1.Operation{Paths: []string{"/x"}}}}
		},
		"DENY on requestPrincipals": func(x *tierTrust) {
			x.ap.Rules[0].From[0].Source = &securityv1beta1.Source{RequestPrincipals: []string{"*"}}
		},
		"DENY on an exact value": func(x *tierTrust) { x.ap.Rules[0].When[0].Values = []string{"premium"} },
		"other workload":         func(x *tierTrust) { x.ra.Selector.MatchLabels = map[string]string{"app": "payments"} },
		"both jwks and jwksUri": func(x *tierTrust) {
			x.ra.JwtRules[0].JwksUri = "https://idp.example.com/jwks.json"
		},
	} {
		x := tierTrust{
			ra:     proto.Clone(tt.ra).(*securityv1beta1.RequestAuthentication),
			ap:     proto.Clone(tt.ap).(*securityv1beta1.AuthorizationPolicy),
			raMeta: tt.raMeta, apMeta: tt.apMeta,
		}
		mutate(&x)
		if len(checkTierTrust(x, ns, labels, headers)) == 0 {
			t.Errorf("self-test %q: the check reports nothing", name)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
