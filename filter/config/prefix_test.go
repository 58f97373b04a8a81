package config

import (
	"math/rand"
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
