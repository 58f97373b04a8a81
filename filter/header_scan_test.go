package filter

import (
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
)

// encodeHeaders is the proxy-wasm encoding of a header map (what the host
// hands the .wasm build, and readRequestHeaders makes natively).
func encodeHeaders(hs [][2]string) []byte {
	raw := make([]byte, 4+8*len(hs))
	binary.LittleEndian.PutUint32(raw, uint32(len(hs)))
	for i, kv := range hs {
		binary.LittleEndian.PutUint32(raw[4+8*i:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(raw[8+8*i:], uint32(len(kv[1])))
		raw = append(append(append(append(raw, kv[0]...), 0), kv[1]...), 0)
	}
	return raw
}

// TestHeaderScan: requestInfo.scan's slots hold lookup's answer for every
// name of the table (first value, names of any case, lengths around the
// word sizes the comparison uses, 63 bytes and more), near misses of
// x-breakwater-* are not the client's own, and a truncated or inconsistent
// encoding is refused.
func TestHeaderScan(t *testing.T) {
	var tab hdrTab
	tab.init()
	tab.add("Upper") // not lower case: never an entry
	learned := []string{"k", "ab", "x-user-id", strings.Repeat("n", 63), strings.Repeat("m", 70)}
	for _, n := range learned {
		tab.add(n)
	}
	tab.add("abc") // no room left
	if tab.n != hdrSlots || nPseudo+nSet+len(learned) != hdrSlots || tab.find("Upper", tab.n) >= 0 || tab.find("abc", tab.n) >= 0 {
		t.Fatalf("table has %d entries", tab.n)
	}
	// Names near the entries: other cases, one byte off, other lengths.
	var pool []string
	for j := 0; j < tab.n; j++ {
		e := tab.folds[j].String()
		for _, n := range []string{e, strings.ToUpper(e), e[:len(e)-1], e + "x", "z" + e[1:]} {
			if !isOwn(n) {
				pool = append(pool, n)
			}
		}
	}
	// Near misses of the client's x-breakwater-* (those themselves are
	// stripped with a host call: the scenarios check them).
	pool = append(pool, "x-breakwater", "x-breakwatex-a", "y-breakwater-a", "x_breakwater-a", strings.Repeat("m", 69)+"M")
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 3000; round++ {
		hs := make([][2]string, r.IntN(12))
		for i := range hs {
			hs[i] = [2]string{pool[r.IntN(len(pool))], strings.Repeat("v", r.IntN(20))}
		}
		raw := encodeHeaders(hs)
		var ri requestInfo
		end, ok := ri.scan(&tab, raw)
		if !ok || end != len(raw) {
			t.Fatalf("scan(%q) = %d, %v", hs, end, ok)
		}
		for j := 0; j < tab.n; j++ {
			e := tab.folds[j].String()
			wv, wok := lookup(hs, e)
			if got, gok := ri.vals[j].s, ri.has&(1<<j) != 0; gok != wok || got != wv {
				t.Fatalf("%q: slot %q: %q, %v; lookup %q, %v", hs, e, got, gok, wv, wok)
			}
		}
		if ri.own {
			t.Fatalf("%q: own", hs)
		}
		// Every truncation, and a pair count too large, is refused.
		for cut := 0; cut < len(raw); cut++ {
			var rc requestInfo
			if _, ok := rc.scan(&tab, raw[:cut]); ok {
				t.Fatalf("scan of %q cut at %d accepted", hs, cut)
			}
		}
		bad := append([]byte(nil), raw...)
		binary.LittleEndian.PutUint32(bad, uint32(len(hs)+1))
		var rb requestInfo
		if _, ok := rb.scan(&tab, bad); ok {
			t.Fatalf("scan of %q with one pair more accepted", hs)
		}
	}
}
