package config

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func headers(kv ...string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == name {
				return kv[i+1], true
			}
		}
		return "", false
	}
}

func TestMatches(t *testing.T) {
	type req struct {
		method, path, authority string
		hdr                     []string
	}
	cases := []struct {
		match string // the "match" object, "" for none
		req   req
		want  bool
	}{
		{"", req{"GET", "/", "a", nil}, true},
		{`{}`, req{"DELETE", "/x?y", "", nil}, true},
		{`{"path_prefix":"/orders"}`, req{"GET", "/orders/1", "", nil}, true},
		{`{"path_prefix":"/orders"}`, req{"GET", "/orders", "", nil}, true},
		{`{"path_prefix":"/orders"}`, req{"GET", "/order", "", nil}, false},
		{`{"path_prefix":"/orders"}`, req{"GET", "/x?next=/orders", "", nil}, false},
		{`{"path_prefix":"/orders/"}`, req{"GET", "/orders?/", "", nil}, true}, // a trailing slash is not significant
		{`{"path_prefix":"/orders/"}`, req{"GET", "/ordersx", "", nil}, false},
		{`{"path_exact":"/a"}`, req{"GET", "/a", "", nil}, true},
		{`{"path_exact":"/a"}`, req{"GET", "/a?b=1", "", nil}, true},
		{`{"path_exact":"/a"}`, req{"GET", "/a/", "", nil}, true}, // a trailing slash is not significant
		{`{"path_exact":"/a/"}`, req{"GET", "/a", "", nil}, true},
		{`{"path_exact":"/a"}`, req{"GET", "/A", "", nil}, false},
		{`{"path_regex":"/a/[0-9]+"}`, req{"GET", "/a/12", "", nil}, true},
		{`{"path_regex":"/a/[0-9]+"}`, req{"GET", "/a/12?x=y", "", nil}, true},
		{`{"path_regex":"/a/[0-9]+"}`, req{"GET", "/a/12/b", "", nil}, false}, // whole path
		{`{"path_regex":"/a/[0-9]+"}`, req{"GET", "/x/a/12", "", nil}, false},
		{`{"path_regex":"/a|/b"}`, req{"GET", "/b", "", nil}, true},
		{`{"path_regex":"/a|/b"}`, req{"GET", "/bc", "", nil}, false}, // alternation stays anchored
		{`{"methods":["GET","POST"]}`, req{"POST", "/", "", nil}, true},
		{`{"methods":["GET","POST"]}`, req{"post", "/", "", nil}, true},
		{`{"methods":["get"]}`, req{"GET", "/", "", nil}, true},
		{`{"methods":["GET"]}`, req{"PUT", "/", "", nil}, false},
		{`{"authority":"Api.Example.com"}`, req{"GET", "/", "api.example.COM", nil}, true},
		{`{"authority":"api.example.com"}`, req{"GET", "/", "api.example.com:8443", nil}, true},
		{`{"authority":"api.example.com"}`, req{"GET", "/", "api.example.org", nil}, false},
		{`{"authority":"api.example.com"}`, req{"GET", "/", "api.example.com.evil", nil}, false},
		{`{"authority":"api.example.com:8080"}`, req{"GET", "/", "api.example.com:8081", nil}, false},
		{`{"authority":"api.example.com:8080"}`, req{"GET", "/", "api.example.com", nil}, false},
		{`{"authority":"api.example.com:80"}`, req{"GET", "/", "api.example.com", nil}, true}, // a default port is dropped: any port
		{`{"authority":"api.example.com"}`, req{"GET", "/", "API.example.com.:80", nil}, true},
		{`{"authority":"[::1]"}`, req{"GET", "/", "[::1]:80", nil}, true},
		{`{"authority":"[::1]:8080"}`, req{"GET", "/", "[::1]:81", nil}, false},
		{`{"authority":"::1"}`, req{"GET", "/", "::1", nil}, true},
		{`{"headers":[{"name":"X-Tenant","exact":"acme"}]}`, req{"GET", "/", "", []string{"x-tenant", "acme"}}, true},
		{`{"headers":[{"name":"x-tenant","exact":"acme"}]}`, req{"GET", "/", "", []string{"x-tenant", "Acme"}}, false},
		{`{"headers":[{"name":"x-tenant","exact":"acme"}]}`, req{"GET", "/", "", nil}, false},
		{`{"headers":[{"name":"x-tenant","exact":""}]}`, req{"GET", "/", "", []string{"x-tenant", ""}}, true},
		{`{"headers":[{"name":"x-tenant","exact":""}]}`, req{"GET", "/", "", nil}, false},
		{`{"headers":[{"name":"x-v","prefix":"v2"}]}`, req{"GET", "/", "", []string{"x-v", "v2.1"}}, true},
		{`{"headers":[{"name":"x-v","prefix":"v2"}]}`, req{"GET", "/", "", []string{"x-v", "v1"}}, false},
		{`{"headers":[{"name":"x-v","present":true}]}`, req{"GET", "/", "", []string{"x-v", ""}}, true},
		{`{"headers":[{"name":"x-v","present":true}]}`, req{"GET", "/", "", []string{"x-w", "1"}}, false},
		{`{"headers":[{"name":"a","present":true},{"name":"b","exact":"1"}]}`, req{"GET", "/", "", []string{"a", "0", "b", "1"}}, true},
		{`{"headers":[{"name":"a","present":true},{"name":"b","exact":"1"}]}`, req{"GET", "/", "", []string{"a", "0", "b", "2"}}, false},
		// All conditions together.
		{`{"path_prefix":"/orders","methods":["GET"],"authority":"o.com","headers":[{"name":"x","exact":"1"}]}`, req{"GET", "/orders/1?q", "o.com:80", []string{"x", "1"}}, true},
		{`{"path_prefix":"/orders","methods":["GET"],"authority":"o.com","headers":[{"name":"x","exact":"1"}]}`, req{"POST", "/orders/1?q", "o.com:80", []string{"x", "1"}}, false},
		{`{"path_prefix":"/orders","methods":["GET"],"authority":"o.com","headers":[{"name":"x","exact":"1"}]}`, req{"GET", "/orders/1?q", "p.com", []string{"x", "1"}}, false},
		{`{"path_prefix":"/orders","methods":["GET"],"authority":"o.com","headers":[{"name":"x","exact":"1"}]}`, req{"GET", "/orders/1?q", "o.com", []string{"x", "2"}}, false},
	}
	for i, tc := range cases {
		fields := `"rate_limit":{"limits":[` + tb + `]}`
		if tc.match != "" {
			fields = `"match":` + tc.match
		}
		m := mustParse(t, pol(fields)).Policies[0].Match
		var h func(string) (string, bool)
		if tc.req.hdr != nil {
			h = headers(tc.req.hdr...)
		}
		if got := m.Matches(tc.req.method, tc.req.path, tc.req.authority, h); got != tc.want {
			t.Errorf("case %d: match %s on %+v = %v, want %v", i, tc.match, tc.req, got, tc.want)
		}
	}
}

func TestMatchHeaderLookupNames(t *testing.T) {
	m := mustParse(t, pol(`"match":{"headers":[{"name":"X-Mixed-Case","present":true}]}`)).Policies[0].Match
	var asked []string
	m.Matches("GET", "/", "", func(n string) (string, bool) { asked = append(asked, n); return "", true })
	check(t, "asked", asked, []string{"x-mixed-case"})
}

func TestKeyPartSyntax(t *testing.T) {
	for in, want := range map[string]KeyPart{
		"header:X-User-Id":         {KeyHeader, "x-user-id"},
		"path":                     {KeyPath, ""},
		"method":                   {KeyMethod, ""},
		"authority":                {KeyAuthority, ""},
		"remote_address":           {KeyRemoteAddress, ""},
		"property:source.address":  {KeyProperty, "source.address"},
		"property:a":               {KeyProperty, "a"},
		"const:a:b,c":              {KeyConst, "a:b,c"},
		"const: spaced value ":     {KeyConst, " spaced value "},
		"property:x-y.connection_": {KeyProperty, "x-y.connection_"},
	} {
		got, err := ParseKeyPart(in)
		if err != nil || got != want {
			t.Errorf("ParseKeyPart(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		// String renders the canonical syntax, which parses back to the same part.
		again, err := ParseKeyPart(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q via %q: %v, %v", in, got.String(), again, err)
		}
	}
	check(t, "property path", KeyPart{KeyProperty, "source.address"}.PropertyPath(), []string{"source", "address"})
	check(t, "property path of header", KeyPart{KeyHeader, "x"}.PropertyPath(), []string(nil))
	for _, bad := range []string{"", "header", "header:", "header:a b", "property:", "property:.a", "property:a.", "property:a b",
		"const:", "const:a\tb", "Path", "path ", "query:x", ":path", "header:x\n"} {
		if _, err := ParseKeyPart(bad); err == nil {
			t.Errorf("ParseKeyPart(%q) accepted", bad)
		} else if !strings.HasPrefix(err.Error(), "breakwater: config: ") || strings.HasPrefix(err.Error(), "breakwater: config: : ") {
			t.Errorf("ParseKeyPart(%q) error %q", bad, err)
		}
	}
}

func TestBuildKey(t *testing.T) {
	parts := []KeyPart{{KeyHeader, "x-user-id"}, {KeyMethod, ""}}
	vals := map[KeyPart]string{{KeyHeader, "x-user-id"}: "alice", {KeyMethod, ""}: "GET"}
	get := func(k KeyPart) string { return vals[k] }
	check(t, "two parts", BuildKey(parts, get), "5:alice,3:GET,")
	check(t, "no parts", BuildKey(nil, get), "")
	check(t, "one part", BuildKey(parts[:1], get), "5:alice,")
	check(t, "missing header", BuildKey([]KeyPart{{KeyHeader, "absent"}}, get), "0:,")
	check(t, "order matters", BuildKey([]KeyPart{parts[1], parts[0]}, get), "3:GET,5:alice,")
	var calls []KeyPart
	BuildKey(parts, func(k KeyPart) string { calls = append(calls, k); return "" })
	check(t, "get called once per part, in order", calls, parts)
}

// TestBuildKeyInjective: over many random value lists drawn from a tiny
// alphabet rich in separators and digits, two lists give the same key if
// and only if they are equal (brute-force reference: slices.Equal).
func TestBuildKeyInjective(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"", ":", ",", "1", "0", "a", "1:", ",1:", "1:a,"}
	seen := map[string][]string{}
	for range 50_000 {
		n := rng.IntN(4)
		parts := make([]KeyPart, n)
		vals := make([]string, n)
		for i := range n {
			parts[i] = KeyPart{KeyConst, string(rune('a' + i))}
			var b strings.Builder
			for range rng.IntN(3) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			vals[i] = b.String()
		}
		i := 0
		key := BuildKey(parts, func(KeyPart) string { v := vals[i]; i++; return v })
		if prev, ok := seen[key]; ok && !slices.Equal(prev, vals) {
			t.Fatalf("collision: %q and %q both give %q", prev, vals, key)
		}
		seen[key] = vals
	}
	if len(seen) < 1000 {
		t.Fatalf("only %d distinct keys: the generator is too narrow", len(seen))
	}
}

func BenchmarkBuildKey(b *testing.B) {
	parts := []KeyPart{{KeyHeader, "x-user-id"}, {KeyPath, ""}}
	get := func(k KeyPart) string {
		if k.Kind == KeyPath {
			return "/orders/12345"
		}
		return "user-0042"
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = BuildKey(parts, get)
	}
}

func BenchmarkMatches(b *testing.B) {
	c, err := Parse([]byte(pol(`"match":{"path_prefix":"/orders","methods":["GET","POST"],"authority":"orders.example.com","headers":[{"name":"x-tenant","exact":"acme"}]}`)))
	if err != nil {
		b.Fatal(err)
	}
	m := c.Policies[0].Match
	h := headers("x-tenant", "acme")
	b.ReportAllocs()
	for b.Loop() {
		if !m.Matches("POST", "/orders/1?x=1", "orders.example.com:443", h) {
			b.Fatal("no match")
		}
	}
}

func BenchmarkParseFull(b *testing.B) {
	data := []byte(twoPolicies(`"circuit_breaker":{},"fault":{"abort":{"percent":1}}`))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
