package normalize

import (
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	for _, c := range []struct {
		in, want string
		enc      bool
	}{
		{"/orders", "/orders", false},
		{"/%6Frders", "/orders", false},
		{"//orders", "/orders", false},
		{"/./orders", "/orders", false},
		{"/x/../orders", "/orders", false},
		{"/orders/", "/orders", false},
		{"/orders;a=b", "/orders", false},
		{"/orders;a=b/1;v=2", "/orders/1", false},
		{"/a/..;/orders", "/orders", false},
		{"/orders?x=1#f", "/orders", false},
		{"/orders#f?x", "/orders", false},
		{"/orders/%31", "/orders/1", false},
		{"/%2E%2E/orders", "/orders", false},
		{"/%2e/orders/.", "/orders", false},
		{"/../../orders", "/orders", false},
		{"/", "/", false},
		{"", "/", false},
		{"?q", "/", false},
		{"*", "/*", false},
		{"orders", "/orders", false},
		{"/a%2Fb", "/a%2Fb", true},
		{"/a%2fb", "/a%2Fb", true},
		{"/a%5cb/..", "/", true},
		{"/a%2F..%2Fadmin", "/a%2F..%2Fadmin", true},
		{"/a%3Bb", "/a%3Bb", false},
		{"/a%e2%82%ac", "/a%E2%82%AC", false},
		{"/a%zz", "/a%25zz", false},
		{"/a%", "/a%25", false},
		{"/a%4", "/a%254", false},
		{"/%%61b", "/%25ab", false},
		{"/a%25b", "/a%25b", false},
		{"/.well-known/x", "/.well-known/x", false},
		{"/a/..b/...", "/a/..b/...", false},
		{"/a///b//", "/a/b", false},
	} {
		got, enc := Path(c.in)
		if got != c.want || enc != c.enc {
			t.Errorf("Path(%q) = %q, %v; want %q, %v", c.in, got, enc, c.want, c.enc)
		}
	}
}

func TestPathNoAllocWhenNormal(t *testing.T) {
	for _, in := range []string{"/orders/1", "/orders/1?x=1", "/orders/", "/.well-known/a", "/"} {
		n := testing.AllocsPerRun(100, func() { Path(in) })
		if n != 0 {
			t.Errorf("Path(%q): %v allocations, want 0", in, n)
		}
	}
}

func TestAuthority(t *testing.T) {
	for _, c := range []struct{ in, scheme, want string }{
		{"orders.example.com", "http", "orders.example.com"},
		{"orders.example.com.", "http", "orders.example.com"},
		{"orders.example.com.:80", "http", "orders.example.com"},
		{"orders.example.com:80", "", "orders.example.com"},
		{"Orders.Example.COM.:443", "https", "orders.example.com"},
		{"orders.example.com:443", "http", "orders.example.com:443"},
		{"orders.example.com.:8080", "http", "orders.example.com:8080"},
		{"[::1]:80", "http", "[::1]"},
		{"[::1]", "http", "[::1]"},
		{"::1", "http", "::1"},
		{".", "http", "."},
		{"", "http", ""},
	} {
		if got := Authority(c.in, c.scheme); got != c.want {
			t.Errorf("Authority(%q, %q) = %q, want %q", c.in, c.scheme, got, c.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Authority("orders.example.com:8080", "http") }); n != 0 {
		t.Errorf("Authority of a normal value: %v allocations", n)
	}
}

// FuzzPath: the normal form is idempotent, rooted, never empty, holds no
// "." or ".." segment, no empty segment, no ';', and never a '/' that was
// decoded from %2F: every "%2F" of the result was in the input (any case),
// and the result has no more '/' than the input (plus the root). The
// encoded-separator report is about the input's path (a separator cut away
// with a ;param still counts), so it holds whenever the result has one.
func FuzzPath(f *testing.F) {
	for _, s := range []string{"/orders", "/%6Frders", "//orders", "/./orders", "/x/../orders", "/orders/",
		"/orders;a=b", "/a%2F..%2Fb", "/a%5c..", "/%%61b", "/a%", "?", "*", "/a/..;/b", "/%2E%2E/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, enc := Path(in)
		if p == "" || p[0] != '/' {
			t.Fatalf("Path(%q) = %q: not rooted", in, p)
		}
		if q, enc2 := Path(p); q != p || enc2 != (strings.Contains(p, "%2F") || strings.Contains(p, "%5C")) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v %v)", in, p, q, enc, enc2)
		}
		if p != "/" {
			for _, seg := range strings.Split(p[1:], "/") {
				if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, ';') {
					t.Fatalf("Path(%q) = %q: segment %q", in, p, seg)
				}
			}
		}
		src := in
		if i := strings.IndexAny(src, "?#"); i >= 0 {
			src = src[:i]
		}
		if strings.Count(p, "/") > strings.Count(src, "/")+1 {
			t.Fatalf("Path(%q) = %q: a '/' was made", in, p)
		}
		up := strings.ToUpper(src)
		if n := strings.Count(p, "%2F") + strings.Count(p, "%5C"); n > strings.Count(up, "%2F")+strings.Count(up, "%5C") {
			t.Fatalf("Path(%q) = %q: an encoded separator was made", in, p)
		}
		if (strings.Contains(p, "%2F") || strings.Contains(p, "%5C")) && !enc {
			t.Fatalf("Path(%q) = %q: encoded separator not reported", in, p)
		}
	})
}
