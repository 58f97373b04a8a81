package filter

import (
	"strconv"
	"testing"

	"github.com/breakwater/breakwater/filter/config"
)

// TestLimitString: the stage's cached RateLimit-Limit value (limitNum,
// limitStr, formatted again by keepRateValues only for another limit) is
// the value formatted, whatever the order of the limits asked.
func TestLimitString(t *testing.T) {
	pol := &policy{name: "api", respPre: prePolicy("api")}
	s := &rateLimitStage{pol: pol}
	h := &httpContext{pol: pol, b: &streamBufs{}}
	for _, n := range []int64{0, 1000000, 1000000, 7, 0, 1 << 62, 7, 7, 12} {
		s.keepRateValues(h, n, 0, 0)
		if got := h.respHeaders[0][1]; got != strconv.FormatInt(n, 10) {
			t.Fatalf("%d: %q", n, got)
		}
	}
}

// TestLimitKeyOf: a limit's cached key is the key built from the request,
// for one-part keys (header, path, method; values repeated, changed,
// empty, holding ':' and ',') and for keys of several parts.
func TestLimitKeyOf(t *testing.T) {
	parts := [][]config.KeyPart{
		{{Kind: config.KeyHeader, Arg: "x-user-id"}},
		{{Kind: config.KeyPath}},
		{{Kind: config.KeyMethod}},
		{{Kind: config.KeyHeader, Arg: "x-user-id"}, {Kind: config.KeyMethod}},
	}
	users := []string{"alice", "alice", "bob", "", "", "5:a,", "alice", "x,y:z", "bob"}
	for _, ps := range parts {
		l := &limitRT{cfg: &config.Limit{Key: ps}}
		for i, u := range users {
			r := &requestInfo{headers: [][2]string{{"x-user-id", u}}, method: "GET", path: "/p/" + strconv.Itoa(i%2)}
			if u == "" && i%2 == 0 {
				r.headers = nil // the header missing: "0:,"
			}
			if got, want := l.keyOf(r), r.key(ps); got != want {
				t.Fatalf("%v #%d %q: %q, want %q", ps, i, u, got, want)
			}
		}
	}
}
