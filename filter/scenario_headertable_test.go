package filter

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestScenariosHeaderTable: the request headers are scanned once into the
// VM's header table (requestInfo.load): the names the filter sets, the
// pseudo-headers and the names stages look up (learned from the first
// lookup of each, up to hdrSlots entries, else looked up in the list).
// Natively and against the .wasm, the answers are lookup's (first value,
// names compared case-insensitively: the test hosts lower-case the names
// they are given, internal/streq's tests fold cases), a client's value of a name the filter
// sets is replaced (the headers then written as a merged list), and
// otherwise the request goes upstream with its headers as sent, in order,
// then the filter's.
func TestScenariosHeaderTable(t *testing.T) {
	// 12 match headers: more than the table learns (hdrSlots minus the
	// fixed entries), so some are always looked up in the list.
	var names []string
	var conds []string
	for i := 0; i < 12; i++ {
		n := "x-h" + strconv.Itoa(i)
		names = append(names, n)
		conds = append(conds, `{"name": "`+n+`", "exact": "v`+strconv.Itoa(i)+`"}`)
	}
	many := func(skip int, upper bool) []string {
		var kv []string
		for i, n := range names {
			if i == skip {
				continue
			}
			if upper {
				n = strings.ToUpper(n)
			}
			kv = append(kv, n, "v"+strconv.Itoa(i))
		}
		return kv
	}
	runScenarios(t, []scenario{
		{
			name: "the client's values of the filter's names are replaced, the rest goes upstream in order",
			config: `{"policies": [{"name": "svc", "timeout": {"request": "2s", "deadline": {"propagate": true}},
				"retry": {"max_retries": 2, "retry_on": ["5xx"]}}]}`,
			run: func(t *testing.T, h *harness) {
				for round := 0; round < 3; round++ {
					// No name of the filter's: the headers as sent, then the filter's.
					x := h.request("GET", "/a", "x-a", "1", "X-B", "2", "x-a", "3")
					want := append(hdrs("GET", "/a", "x-a", "1", "x-b", "2", "x-a", "3"),
						[2]string{"x-breakwater-policy", "svc"}, [2]string{"x-envoy-upstream-rq-timeout-ms", "2000"},
						[2]string{"x-envoy-expected-rq-timeout-ms", "2000"}, [2]string{"x-envoy-max-retries", "2"},
						[2]string{"x-envoy-retry-on", "5xx"})
					if got := h.host.GetCurrentRequestHeaders(x.id); !slices.Equal(got, want) {
						t.Fatalf("round %d: upstream headers\n%q\nwant\n%q", round, got, want)
					}
					x.respond("200")
					// The client's x-envoy-max-retries (any case) and
					// x-envoy-upstream-rq-timeout-ms are left out, the rest
					// keeps its order.
					y := h.request("GET", "/a", "X-Envoy-Max-Retries", "9", "x-a", "1", "x-envoy-upstream-rq-timeout-ms", "99999", "x-b", "2")
					want = append(hdrs("GET", "/a", "x-a", "1", "x-b", "2"),
						[2]string{"x-breakwater-policy", "svc"}, [2]string{"x-envoy-upstream-rq-timeout-ms", "2000"},
						[2]string{"x-envoy-expected-rq-timeout-ms", "2000"}, [2]string{"x-envoy-max-retries", "2"},
						[2]string{"x-envoy-retry-on", "5xx"})
					if got := h.host.GetCurrentRequestHeaders(y.id); !slices.Equal(got, want) {
						t.Fatalf("round %d: upstream headers\n%q\nwant\n%q", round, got, want)
					}
					y.respond("200")
					// The client's x-breakwater-* (any case) never go upstream.
					z := h.request("GET", "/a", "X-Breakwater-Reason", "forged", "x-a", "1")
					for _, kv := range h.host.GetCurrentRequestHeaders(z.id) {
						if strings.EqualFold(kv[0], "x-breakwater-reason") {
							t.Fatalf("round %d: %q upstream", round, kv)
						}
					}
					if z.upstreamHeader("x-a") != "1" || z.upstreamHeader("x-breakwater-policy") != "svc" {
						t.Fatalf("round %d: upstream headers %q", round, h.host.GetCurrentRequestHeaders(z.id))
					}
					z.respond("200")
				}
			},
		},
		{
			name: "lookups answer as lookup: first value, any case, learned names and those past the table",
			config: `{"policies": [
				{"name": "many", "match": {"path_prefix": "/many", "headers": [` + strings.Join(conds, ",") + `]}},
				{"name": "tenant", "match": {"path_prefix": "/t", "headers": [{"name": "x-tenant", "exact": "acme"}]},
					"timeout": {"request": "5s", "deadline": {"min_remaining": "1ms"}}}
			]}`,
			run: func(t *testing.T, h *harness) {
				// Several rounds: the first lookups of a name find it in the
				// list and add it to the table, later ones read a slot.
				for round := 0; round < 3; round++ {
					cases := []struct {
						path string
						kv   []string
						want string
					}{
						{"/t", []string{"x-tenant", "acme"}, "tenant"},
						{"/t", []string{"X-TENANT", "acme"}, "tenant"},
						{"/t", []string{"x-tenant", "acme", "x-tenant", "other"}, "tenant"},
						{"/t", []string{"x-tenant", "other", "X-Tenant", "acme"}, ""},
						{"/t", []string{"x-tenan", "acme", "x-tenantt", "acme"}, ""},
						{"/t", nil, ""},
						{"/many", many(-1, false), "many"},
						{"/many", many(-1, true), "many"},
						{"/many", many(0, false), ""},
						{"/many", many(11, false), ""},
						{"/many", many(7, true), ""},
					}
					for _, c := range cases {
						x := h.request("GET", c.path, c.kv...)
						if got := x.upstreamHeader("x-breakwater-policy"); !x.forwarded() || got != c.want {
							t.Fatalf("round %d: %s %q: policy %q (forwarded %v), want %q", round, c.path, c.kv, got, x.forwarded(), c.want)
						}
						x.respond("200")
					}
					// The caller's budget (grpc-timeout, any case) is read
					// from its slot: 0 left is below min_remaining.
					x := h.request("GET", "/t", "x-tenant", "acme", "GRPC-Timeout", "0m")
					if x.status() != 504 {
						t.Fatalf("round %d: grpc-timeout 0m: status %d, want 504", round, x.status())
					}
					x.end()
					y := h.request("GET", "/t", "x-tenant", "acme", "grpc-timeout", "3S")
					if !y.forwarded() || msHeader(t, y, "x-envoy-upstream-rq-timeout-ms") != 3000 {
						t.Fatalf("round %d: grpc-timeout 3S: upstream %q", round, h.host.GetCurrentRequestHeaders(y.id))
					}
					y.respond("200")
				}
			},
		},
	})
}
