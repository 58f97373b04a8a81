package filter

import (
	"strconv"
	"strings"
	"testing"
)

// checkIndex compares requestInfo.header (the length index) with lookup's
// plain scan for every name of hs, each in lower and upper case, and names.
func checkIndex(t *testing.T, hs [][2]string, names ...string) {
	t.Helper()
	r := &requestInfo{headers: hs, idx: idxLoaded}
	ask := append([]string(nil), names...)
	for _, kv := range hs {
		ask = append(ask, kv[0], strings.ToLower(kv[0]), strings.ToUpper(kv[0]), kv[0]+"x")
	}
	for _, n := range ask {
		wv, wok := lookup(hs, n)
		if v, ok := r.header(n); v != wv || ok != wok {
			t.Fatalf("header(%q) = %q, %v; lookup: %q, %v (headers %q)", n, v, ok, wv, wok, hs)
		}
	}
	if len(hs) > 0 && r.idx != idxBuilt {
		t.Fatalf("idx %d after lookups, want built", r.idx)
	}
}

func TestHeaderIndex(t *testing.T) {
	checkIndex(t, nil, "x-user-id", "")
	checkIndex(t, [][2]string{{":method", "GET"}, {":path", "/"}, {"X-User-Id", "a"}, {"x-user-id", "b"},
		{"x-request-id", "r"}, {"GRPC-Timeout", "1S"}, {"", "empty"}, {"k", "kelvin?"}},
		"grpc-timeout", "x-envoy-expected-rq-timeout-ms", "\u212a", "")
	// Names of 31, 32, 63, 64 and 100 bytes (the index keeps the first 32
	// lengths, the bit set 63), and the first of a length past index 255.
	var hs [][2]string
	for _, l := range []int{31, 32, 63, 64, 100} {
		hs = append(hs, [2]string{strings.Repeat("a", l), strconv.Itoa(l)}, [2]string{strings.Repeat("b", l), "b"})
	}
	for i := 0; i < 300; i++ {
		hs = append(hs, [2]string{"h-" + strconv.Itoa(i), strconv.Itoa(i)})
	}
	hs = append(hs, [2]string{"late-one", "1"}, [2]string{"LATE-ONE", "2"}, [2]string{"late-two", "3"})
	checkIndex(t, hs, strings.Repeat("A", 63), strings.Repeat("c", 64), "late-two", "late-0ne")
	// A requestInfo not read by load (tests build them) scans.
	r := &requestInfo{headers: [][2]string{{"x-a", "1"}}}
	if v, ok := r.header("x-a"); !ok || v != "1" || r.idx != idxNone {
		t.Fatalf("plain requestInfo: %q %v idx %d", v, ok, r.idx)
	}
}

// FuzzHeaderIndex: the length index answers every lookup as the plain
// scan does. The input is a header list, one "name:value" a line.
func FuzzHeaderIndex(f *testing.F) {
	f.Add("x-user-id:a\nX-USER-ID:b\n:path:/\ngrpc-timeout:1S", "x-user-id")
	f.Add("k:1\n\u212a:2", "K")
	f.Add(strings.Repeat("ab:1\n", 300)+"abc:2", "ABC")
	f.Fuzz(func(t *testing.T, list, name string) {
		var hs [][2]string
		for _, line := range strings.Split(list, "\n") {
			n, v, _ := strings.Cut(line, ":")
			hs = append(hs, [2]string{n, v})
		}
		checkIndex(t, hs, name, strings.ToLower(name))
	})
}
