package filter

import (
	"math/rand"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// TestMatchOnlyPrefix: pluginContext.match's inline path for a policy
// whose only condition is path_prefix gives MatchNormal's answer, for
// prefixes with and without a trailing "/", in either case mode, on paths
// that start with the prefix, differ in case, stop short of it or are the
// prefix without its slash, and on random ones.
func TestMatchOnlyPrefix(t *testing.T) {
	prefixes := []string{"/api", "/api/", "/API/x", "/", "/abcdefghij", "/abcdefghij/", "/a"}
	paths := []string{"/", "/a", "/api", "/API", "/api/", "/api/orders", "/Api/orders", "/apis", "/ap",
		"/API/x", "/api/x", "/abcdefghij", "/ABCDEFGHIJ/k", "/abcdefghi", "/abcdefghij/k", "/b"}
	rng := rand.New(rand.NewSource(7))
	for k := 0; k < 20000; k++ {
		b := make([]byte, 1+rng.Intn(14))
		b[0] = '/'
		for i := 1; i < len(b); i++ {
			b[i] = "/aApPiI"[rng.Intn(7)]
		}
		paths = append(paths, string(b))
	}
	for _, pre := range prefixes {
		for _, fold := range []bool{false, true} {
			m := &config.Match{PathPrefix: pre, IgnoreCase: fold}
			if !m.OnlyPrefix() {
				t.Fatalf("%+v: not OnlyPrefix", m)
			}
			pol := &policy{cfg: &config.Policy{Match: m}, onlyPrefix: true}
			p := &pluginContext{policies: []*policy{pol}}
			for _, path := range paths {
				r := &requestInfo{path: path}
				got, esc := p.match(r)
				want := m.MatchNormal("GET", path, "", false, nil) == config.Matched
				if (got == pol) != want || esc {
					t.Fatalf("prefix %q fold %v, path %q: matched %v (escaped %v), MatchNormal says %v", pre, fold, path, got == pol, esc, want)
				}
			}
		}
	}
}
