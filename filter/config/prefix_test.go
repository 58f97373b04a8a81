package config

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

// prefixMatchesRef is prefixMatches as it was before streq.Equal: the
// reference the word compare must agree with.
func prefixMatchesRef(path, prefix string, fold bool) bool {
	if len(path) >= len(prefix) && (path[:len(prefix)] == prefix || fold && strings.EqualFold(path[:len(prefix)], prefix)) {
		return true
	}
	if n := len(prefix) - 1; n > 0 && prefix[n] == '/' && len(path) == n {
		return path == prefix[:n] || fold && strings.EqualFold(path, prefix[:n])
	}
	return false
}

// TestPrefixMatchesAgrees: prefixMatches against its reference for every
// prefix and path cut from a few paths (with and without a trailing
// slash, each byte changed in turn, in either case) and on random ones.
func TestPrefixMatchesAgrees(t *testing.T) {
	check := func(path, prefix string) {
		t.Helper()
		for _, fold := range []bool{false, true} {
			if got, want := prefixMatches(path, prefix, fold), prefixMatchesRef(path, prefix, fold); got != want {
				t.Fatalf("prefixMatches(%q, %q, %v) = %v, want %v", path, prefix, fold, got, want)
			}
		}
	}
	bases := []string{"/api/orders/12345", "/API/Orders/12345", "/a/", "/abcdefgh/ijklmnop/", "/v1/x"}
	for _, a := range bases {
		for _, b := range bases {
			for i := 1; i <= len(a); i++ {
				prefix := a[:i]
				for j := 0; j <= len(b); j++ {
					check(b[:j], prefix)
					check(b[:j], prefix+"/")
					for k := 0; k < j; k++ {
						check(b[:k]+string(b[k]^1)+b[k+1:j], prefix)
						check(b[:k]+string(b[k]^0x20)+b[k+1:j], prefix)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(5))
	gen := func() string {
		b := make([]byte, rng.Intn(20))
		for i := range b {
			b[i] = "/aAbB.\x00\xff"[rng.Intn(8)]
		}
		return string(b)
	}
	for k := 0; k < 200000; k++ {
		check(gen(), gen())
	}
}

// TestOnlyPrefix: for a match whose only condition is path_prefix, and a
// path without an encoded separator, PrefixMatches is MatchNormal's answer
// for any method, authority and headers; a match with any other condition
// is not OnlyPrefix.
func TestOnlyPrefix(t *testing.T) {
	header := func(name string) (string, bool) { return "v", true }
	paths := []string{"/", "/api", "/api/", "/api/orders", "/API/orders", "/apis", "/ap", "/other", "/a%2Fb"}
	for _, prefix := range []string{"/api", "/api/", "/API", "/", "/api/orders/x"} {
		for _, fold := range []bool{false, true} {
			for _, es := range []EscapedSlashes{EscapedSlashesReject, EscapedSlashesKeep} {
				m := &Match{PathPrefix: prefix, IgnoreCase: fold, EscapedSlashes: es}
				if !m.OnlyPrefix() {
					t.Fatalf("%+v: not OnlyPrefix", m)
				}
				for _, p := range paths {
					for _, method := range []string{"GET", "post"} {
						for _, auth := range []string{"", "svc.local"} {
							for _, h := range []func(string) (string, bool){nil, header} {
								got := m.MatchNormal(method, p, auth, false, h)
								if want := m.PrefixMatches(p); got != NoMatch && got != Matched || (got == Matched) != want {
									t.Fatalf("%+v on %q: MatchNormal %v, PrefixMatches %v", m, p, got, want)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, m := range []*Match{nil, {}, {PathExact: "/a"}, {PathPrefix: "/a", PathExact: "/a"},
		{PathPrefix: "/a", Methods: []string{"GET"}}, {PathPrefix: "/a", Authority: "x"},
		{PathPrefix: "/a", Headers: []HeaderMatch{{Name: "x"}}}, {PathPrefix: "/a", PathRegex: regexp.MustCompile("x")}} {
		if m.OnlyPrefix() {
			t.Fatalf("%+v: OnlyPrefix", m)
		}
	}
}
