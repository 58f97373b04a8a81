package normalize

import (
	"math/rand"
	"strings"
	"testing"
)

// pathRef is Path as it was before the word-at-a-time skip (quiet): the
// reference the fast path must agree with on every input.
func pathRef(raw string) (string, bool) {
	if raw == "" || raw[0] != '/' {
		return slow(cutQuery(raw))
	}
	for i := 1; i < len(raw); i++ {
		c := raw[i]
		if !special[c] {
			continue
		}
		switch c {
		case '?', '#':
			return trimSlash(raw[:i]), false
		case '%', ';':
			return slow(cutQuery(raw))
		case '/':
			if raw[i-1] == '/' {
				return slow(cutQuery(raw))
			}
		case '.':
			if raw[i-1] == '/' && dotSegment(raw[i:]) {
				return slow(cutQuery(raw))
			}
		}
	}
	return trimSlash(raw), false
}

// checkPath compares Path with pathRef, and with the slow path alone (the
// fast path only ever answers what the full normalisation answers).
func checkPath(t *testing.T, in string) {
	t.Helper()
	p, enc := Path(in)
	if q, e := pathRef(in); p != q || enc != e {
		t.Fatalf("Path(%q) = %q, %v; the reference says %q, %v", in, p, enc, q, e)
	}
	if q, e := slow(cutQuery(in)); p != q || enc != e {
		t.Fatalf("Path(%q) = %q, %v; the slow path says %q, %v", in, p, enc, q, e)
	}
}

// TestPathFastAgrees: Path against its reference on adversarial paths (every
// byte value, and every special pair, at every offset of paths of 1 to 40
// bytes, so each lands in each byte of a word and across word boundaries)
// and on random paths over an alphabet dense in the bytes that matter.
func TestPathFastAgrees(t *testing.T) {
	base := "/abcdefgh/ijklmnop/qrstuvwx/yz012345/6789"
	specials := []string{"/", ".", "..", "%", ";", "?", "#", "\\", "//", "/.", "/..", "/./", "/../",
		"%2F", "%2f", "%5C", "%5c", "%2E", "%6F", "%", "%z", ";a", "?x", "#f", "\x00", "\x80", "\xff", "/.well"}
	for n := 1; n <= len(base); n++ {
		b := base[:n]
		checkPath(t, b)
		checkPath(t, b+"/")
		for i := 0; i <= n; i++ {
			for c := 0; c < 256; c++ {
				checkPath(t, b[:i]+string([]byte{byte(c)})+b[i:])
				if i < n {
					checkPath(t, b[:i]+string([]byte{byte(c)})+b[i+1:])
				}
			}
			for _, s := range specials {
				checkPath(t, b[:i]+s+b[i:])
				if i > 0 {
					checkPath(t, b[:i-1]+s+b[i:])
				}
			}
		}
	}
	rng := rand.New(rand.NewSource(11))
	const alpha = "//////....%%;;??##\\abcAF2e5cz0\x00\x80"
	var sb strings.Builder
	for k := 0; k < 300000; k++ {
		sb.Reset()
		if rng.Intn(8) != 0 {
			sb.WriteByte('/')
		}
		for n := rng.Intn(48); n > 0; n-- {
			if rng.Intn(3) == 0 {
				sb.WriteByte(alpha[rng.Intn(len(alpha))])
			} else {
				sb.WriteByte(byte('a' + rng.Intn(26)))
			}
		}
		checkPath(t, sb.String())
	}
}

// FuzzPathFast: Path agrees with its reference on any input.
func FuzzPathFast(f *testing.F) {
	for _, s := range []string{"/orders", "/api/orders/12345678", "/a//b", "/abcdefg/./x", "/abcdefgh?x=1", "/%2F"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { checkPath(t, in) })
}
