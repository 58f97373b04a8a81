package filter_test

import (
	"testing"
)

// TestBridgeSerdeViews checks the parts of filter/sdkbridge/serde.go that
// work on a map's encoding (compiled natively in a scratch module, as
// TestBridgeSerde does): DeserializeMapWire's reuse of a caller's slice, the
// encoding it returns (trailing bytes left out) and its refusal of
// malformed maps, and SerializeWire's encoding of a map read so (maps of 0
// to 73 pairs, empty keys and values) with pairs appended, against the
// byte-at-a-time reference.
func TestBridgeSerdeViews(t *testing.T) {
	goTestScratch(t, "serde.go", map[string]string{
		"go.mod":        "module serdecheck\n\ngo 1.21\n",
		"serde.go":      bridgeSerdeSource(t),
		"serde_test.go": serdeViewsCheck,
		"ref_test.go":   serdeRef,
	})
}

const serdeViewsCheck = `package internal

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

func randStr(r *rand.Rand, min int) string {
	b := make([]byte, min+r.IntN(20))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func TestWire(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var dst [][2]string
	for round := 0; round < 3000; round++ {
		n := r.IntN(12)
		if round%50 == 0 {
			n = 64 + r.IntN(10)
		}
		orig := make([][2]string, n)
		for i := range orig {
			orig[i] = [2]string{randStr(r, r.IntN(2)), randStr(r, r.IntN(2))}
		}
		enc := ref(orig)
		in := append(append([]byte{}, enc...), make([]byte, r.IntN(3))...) // trailing bytes
		got, wire := DeserializeMapWire(dst, in)
		if len(got) != len(orig) || (len(orig) > 0 && !reflect.DeepEqual(got, orig)) {
			t.Fatalf("DeserializeMapWire(%q) = %q", orig, got)
		}
		if !bytes.Equal(wire, enc) {
			t.Fatalf("DeserializeMapWire(%q): wire %v, want %v", orig, wire, enc)
		}
		if dst != nil && cap(dst) >= n && n > 0 && &got[0] != &dst[:1][0] {
			t.Fatal("DeserializeMapWire did not reuse a slice with room")
		}
		if cap(got) > cap(dst) {
			dst = got
		}
		var extra [][2]string
		for i := r.IntN(4); i > 0; i-- {
			extra = append(extra, [2]string{randStr(r, 1), randStr(r, 0)})
		}
		want := append(append([][2]string{}, orig...), extra...)
		if out := SerializeWire(wire, extra); !bytes.Equal(out, ref(want)) {
			t.Fatalf("SerializeWire(%q, %q) = %v, want %v", orig, extra, out, ref(want))
		}
		if out := SerializeMap(want); !bytes.Equal(out, ref(want)) {
			t.Fatalf("SerializeMap(%q) = %v", want, out)
		}
	}
	extra := [][2]string{{"k", "v"}}
	if out := SerializeWire(nil, extra); !bytes.Equal(out, ref(extra)) {
		t.Fatalf("SerializeWire(nil) = %v", out)
	}
}

// A malformed map decodes as nil and reads nothing outside the buffer.
func TestMalformed(t *testing.T) {
	for _, bs := range [][]byte{
		nil,
		{1, 0},
		{2, 0, 0, 0, 1, 0, 0, 0},
		{1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 'a', 0},
		{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a', 0},
		{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 'b'},
	} {
		if got, wire := DeserializeMapWire(make([][2]string, 4), bs); got != nil || wire != nil {
			t.Errorf("DeserializeMapWire(%v) = %q, %v", bs, got, wire)
		}
		if got := DeserializeMap(bs); got != nil {
			t.Errorf("DeserializeMap(%v) = %q", bs, got)
		}
	}
}
`
