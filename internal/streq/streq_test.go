package streq

import (
	"strings"
	"testing"
)

func TestFold(t *testing.T) {
	names := []string{"k", "ab", "abc", ":path", ":method", ":authority", "x-user-id", "x-breakwater-", "grpc-timeout",
		"x-envoy-upstream-rq-per-try-timeout-ms", "a-1_b.c~d!e#f$g%h&i'j*k+l^m`n|o"}
	for _, name := range names {
		f, ok := Mask(name)
		if !ok || f.String() != name || f.Len() != len(name) {
			t.Fatalf("Mask(%q) = %v, %v", name, f, ok)
		}
		// Every single-byte change, every case variant of the letters, and
		// bytes that OR-ing 0x20 could confuse.
		for i := 0; i < len(name); i++ {
			for c := 0; c < 256; c++ {
				b := []byte(name)
				b[i] = byte(c)
				s := string(b)
				if got, want := f.EqualFold(s), strings.EqualFold(s, name); got != want {
					t.Fatalf("EqualFold(%q, %q) = %v, want %v", s, name, got, want)
				}
			}
		}
		up := strings.ToUpper(name)
		if !f.EqualFold(up) || f.EqualFold(up+"x") || f.EqualFold(up[:len(up)-1]) {
			t.Fatalf("%q vs %q", up, name)
		}
	}
	for _, bad := range []string{"", "A", "x-User", "\u212a"} {
		if _, ok := Mask(bad); ok {
			t.Fatalf("Mask(%q) ok", bad)
		}
	}
	f, _ := Mask("ks")
	for _, s := range []string{"\u212as", "k\u017f"} { // Kelvin sign, long s: other lengths
		if f.EqualFold(s) != (len(s) == 2 && strings.EqualFold(s, "ks")) || f.EqualFold(s) {
			t.Fatalf("EqualFold(%q)", s)
		}
	}
}

// TestEqual: Equal against == for
// every one-byte change at every position of strings of 0 to 40 bytes, and
// for every length pair.
func TestEqual(t *testing.T) {
	base := "abcdefghijklmnopqrstuvwxyz0123456789/._-"
	for n := 0; n <= len(base); n++ {
		a := base[:n]
		for m := 0; m <= len(base); m++ {
			if got := Equal(a, base[:m]); got != (a == base[:m]) {
				t.Fatalf("Equal(%q, %q) = %v", a, base[:m], got)
			}
		}
		for i := 0; i < n; i++ {
			for _, c := range []byte{0, 'A', a[i] ^ 1, a[i] ^ 0x80, 0xff} {
				b := a[:i] + string([]byte{c}) + a[i+1:]
				if got := Equal(a, b); got != (a == b) {
					t.Fatalf("Equal(%q, %q) = %v", a, b, got)
				}
			}
		}
	}
}

// TestWords: Words is ==, for every length around its word steps
// (0 to 40 bytes), equal strings at other addresses and strings that differ
// in any one byte.
func TestWords(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := strings.Repeat("abcdefghij", 5)[:n]
		b := strings.Clone(a)
		if !Words(a, b) || !Words(a, a) {
			t.Fatalf("%q: not equal to itself", a)
		}
		for i := 0; i < n; i++ {
			c := []byte(a)
			c[i] ^= 0x20
			if Words(a, string(c)) {
				t.Fatalf("%q == %q", a, c)
			}
		}
		if n > 0 && (Words(a, a[1:]) || Words(a[1:], a)) {
			t.Fatalf("%q: equal to a shorter string", a)
		}
	}
}
