package filter_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBridgeSerde checks filter/sdkbridge/serde.go, the header-map codec
// scripts/build-wasm.sh puts in place of the SDK's (it only builds for
// wasip1 inside the SDK copy): the file, without its build line, is compiled
// natively in a scratch module and checked against the proxy-wasm byte
// layouts (the SDK's own cases) and a byte-at-a-time reference encoder over
// generated maps, including empty maps and empty strings, and two results
// held at once.
func TestBridgeSerde(t *testing.T) {
	goTestScratch(t, "serde.go", map[string]string{
		"go.mod":        "module serdecheck\n\ngo 1.21\n",
		"serde.go":      bridgeSerdeSource(t),
		"serde_test.go": serdeCheck,
		"ref_test.go":   serdeRef,
	})
}

// bridgeSerdeSource is filter/sdkbridge/serde.go without its build line.
func bridgeSerdeSource(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("sdkbridge/serde.go")
	if err != nil {
		t.Fatal(err)
	}
	code, ok := strings.CutPrefix(string(src), "//go:build wasip1 && breakwater_bridge\n")
	if !ok {
		t.Fatal("serde.go: unexpected build line")
	}
	return code
}

// goTestScratch writes files (path: contents) into a scratch module and
// runs its tests natively; what names the code under test in a failure.
func goTestScratch(t *testing.T, what string, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "test", "-count=1", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go test of %s: %v\n%s", what, err, out)
	}
}

// serdeRef is the reference encoder of the scratch modules' checks: the
// proxy-wasm header-map wire format spelled out one byte at a time.
const serdeRef = `package internal

import "encoding/binary"

func ref(ms [][2]string) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ms)))
	for _, m := range ms {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[1])))
	}
	for _, m := range ms {
		for i := 0; i < len(m[0]); i++ {
			b = append(b, m[0][i])
		}
		b = append(b, 0)
		for i := 0; i < len(m[1]); i++ {
			b = append(b, m[1][i])
		}
		b = append(b, 0)
	}
	return b
}
`

const serdeCheck = `package internal

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestLayouts(t *testing.T) {
	cases := []struct {
		maps  [][2]string
		bytes []byte
	}{
		{[][2]string{{"a", "A"}}, []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 97, 0, 65, 0}},
		{[][2]string{{"a", "ABCDEFG"}, {"@AB", "<1234"}}, []byte{2, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0,
			97, 0, 65, 66, 67, 68, 69, 70, 71, 0, 64, 65, 66, 0, 60, 49, 50, 51, 52, 0}},
		{[][2]string{}, []byte{0, 0, 0, 0}},
	}
	for i, c := range cases {
		if got := SerializeMap(c.maps); !bytes.Equal(got, c.bytes) {
			t.Errorf("case %d: SerializeMap = %v, want %v", i, got, c.bytes)
		}
		if got := DeserializeMap(c.bytes); !reflect.DeepEqual(got, c.maps) {
			t.Errorf("case %d: DeserializeMap = %q, want %q", i, got, c.maps)
		}
	}
}

func TestAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	for n := 0; n < 2000; n++ {
		ms := make([][2]string, r.IntN(12))
		for i := range ms {
			ms[i] = [2]string{str(), str()}
		}
		enc := SerializeMap(ms)
		if want := ref(ms); !bytes.Equal(enc, want) {
			t.Fatalf("SerializeMap(%q) = %v, want %v", ms, enc, want)
		}
		if got := DeserializeMap(enc); !reflect.DeepEqual(got, ms) {
			t.Fatalf("round trip of %q gave %q", ms, got)
		}
	}
}

// Two results in a row stay intact (DispatchHttpCall holds its headers and
// trailers at once), and a reused buffer carries nothing of an earlier map.
func TestConsecutive(t *testing.T) {
	long := [][2]string{{"a-long-header-name", "a rather long value of the header"}, {"b", "c"}}
	for i := 0; i < 4; i++ {
		x := SerializeMap(long)
		y := SerializeMap([][2]string{{"t", ""}})
		if !bytes.Equal(x, ref(long)) || !bytes.Equal(y, ref([][2]string{{"t", ""}})) {
			t.Fatalf("round %d: %v / %v", i, x, y)
		}
	}
	big := [][2]string{{"k", string(make([]byte, 5000))}}
	if !bytes.Equal(SerializeMap(big), ref(big)) {
		t.Fatal("large map")
	}
}

func TestPropertyPath(t *testing.T) {
	for _, c := range []struct {
		path []string
		want string
	}{
		{nil, ""}, {[]string{"source"}, "source"}, {[]string{"upstream", "request_attempt_count"}, "upstream\x00request_attempt_count"},
		{[]string{"", "a", ""}, "\x00a\x00"},
	} {
		if got := string(SerializePropertyPath(c.path)); got != c.want {
			t.Errorf("SerializePropertyPath(%q) = %q, want %q", c.path, got, c.want)
		}
	}
}
`
