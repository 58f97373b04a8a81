package filter_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBridgeSerdeViews checks the parts of filter/sdkbridge/serde.go that
// work on views (compiled natively in a scratch module, as TestBridgeSerde
// does): DeserializeMapInto's reuse of a caller's slice and its checks of
// malformed maps, and SerializeMap's copy of the pairs that already lie in
// memory in the wire layout (views of a decoded map written back in order,
// with pairs removed, replaced and appended, empty values, and adjacent
// strings whose separators are not NUL) against the byte-at-a-time
// reference.
func TestBridgeSerdeViews(t *testing.T) {
	src, err := os.ReadFile("sdkbridge/serde.go")
	if err != nil {
		t.Fatal(err)
	}
	code, ok := strings.CutPrefix(string(src), "//go:build wasip1 && breakwater_bridge\n")
	if !ok {
		t.Fatal("serde.go: unexpected build line")
	}
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":        "module serdecheck\n\ngo 1.21\n",
		"serde.go":      code,
		"serde_test.go": serdeViewsCheck,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test of serde.go: %v\n%s", err, out)
	}
}

const serdeViewsCheck = `package internal

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"testing"
)

func ref(ms [][2]string) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ms)))
	for _, m := range ms {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[1])))
	}
	for _, m := range ms {
		b = append(b, m[0]...)
		b = append(b, 0)
		b = append(b, m[1]...)
		b = append(b, 0)
	}
	return b
}

// Views of a decoded map, edited as the filter edits the request headers
// (some removed, some replaced, its own appended) and in random orders,
// encode as the reference does.
func TestViewsWrittenBack(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	str := func(min int) string {
		b := make([]byte, min+r.IntN(20))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	var dst [][2]string
	for n := 0; n < 3000; n++ {
		orig := make([][2]string, r.IntN(12))
		for i := range orig {
			orig[i] = [2]string{str(r.IntN(2)), str(r.IntN(2))}
		}
		wire := ref(orig)
		got := DeserializeMapInto(dst, wire)
		if !reflect.DeepEqual(got, orig) && !(len(got) == 0 && len(orig) == 0) {
			t.Fatalf("DeserializeMapInto(%q) = %q", orig, got)
		}
		if cap(dst) >= len(orig) && len(orig) > 0 && &got[0] != &dst[:1][0] {
			t.Fatal("DeserializeMapInto did not reuse a slice with room")
		}
		if cap(got) > cap(dst) {
			dst = got
		}
		var out [][2]string
		for i := range got {
			switch r.IntN(6) {
			case 0: // removed
			case 1: // replaced
				out = append(out, [2]string{got[i][0], str(0)})
			default:
				out = append(out, got[i])
			}
		}
		if r.IntN(4) == 0 {
			r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		}
		for i := r.IntN(3); i > 0; i-- {
			out = append(out, [2]string{str(1), str(0)})
		}
		if enc := SerializeMap(out); !bytes.Equal(enc, ref(out)) {
			t.Fatalf("SerializeMap(%q) = %v, want %v", out, enc, ref(out))
		}
	}
}

// Adjacent strings whose separators are not NUL are not a run.
func TestAdjacentNotNUL(t *testing.T) {
	mem := "ab=cd;ef=gh\x00ij\x00kl"
	ms := [][2]string{{mem[0:2], mem[3:5]}, {mem[6:8], mem[9:11]}, {mem[12:14], mem[15:17]}}
	if enc := SerializeMap(ms); !bytes.Equal(enc, ref(ms)) {
		t.Fatalf("SerializeMap(%q) = %v, want %v", ms, enc, ref(ms))
	}
	ms = [][2]string{{mem[12:14], mem[15:17]}, {mem[9:11], mem[12:14]}}
	if enc := SerializeMap(ms); !bytes.Equal(enc, ref(ms)) {
		t.Fatalf("SerializeMap(%q) = %v, want %v", ms, enc, ref(ms))
	}
}

// A malformed map panics (as the SDK's decoder does) and reads nothing
// outside the buffer.
func TestMalformed(t *testing.T) {
	for _, bs := range [][]byte{
		{1, 0},
		{2, 0, 0, 0, 1, 0, 0, 0},
		{1, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 'a', 0},
		{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a', 0},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("DeserializeMap(%v) did not panic", bs)
				}
			}()
			DeserializeMap(bs)
		}()
	}
}
`
