package filter

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// wireRef encodes a header map byte by byte (the proxy-wasm layout).
func wireRef(ms [][2]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(len(ms)))
	for _, kv := range ms {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(kv[1])))
	}
	for _, kv := range ms {
		b = append(append(append(append(b, kv[0]...), 0), kv[1]...), 0)
	}
	return b
}

// aligned returns a copy of b in an 8-byte aligned buffer (the host's
// buffers are), with extra bytes after it.
func aligned(b []byte, extra int) []byte {
	w := make([]uint64, (len(b)+extra+7)/8+1)
	out := unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(b)+extra)
	copy(out, b)
	return out
}

func randName(r *rand.Rand) string {
	names := []string{":status", ":status", "x-envoy-attempt-count", "content-type", "date", "alt-svc", "expires",
		"X-Envoy-Attempt-Count", ":STATUS", "x-envoy-attempt-countx", "y-envoy-attempt-count", ""}
	if r.IntN(3) == 0 {
		b := make([]byte, r.IntN(30))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		return string(b)
	}
	return names[r.IntN(len(names))]
}

// randValue is a status-like value now and then (3 digits, or not quite).
func randValue(r *rand.Rand) string {
	values := []string{"200", "503", "099", "2x0", "20", "+200", "0200", "-1", "1000", ""}
	if r.IntN(2) == 0 {
		return values[r.IntN(len(values))]
	}
	return strings.Repeat("v", r.IntN(12))
}

// TestScanEncodeWire checks scanWire and encodeWire against lookup and a
// byte-at-a-time encoder over generated maps: the first :status and
// x-envoy-attempt-count (in any case; :status as a number as strconv.Atoi
// reads it), the map's end, and the map written
// back with a policy's pre-encoded pair and extra pairs appended, into a
// reused buffer too small, large enough, or none.
func TestScanEncodeWire(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pre := prePolicy("api")
	var buf []byte
	for iter := 0; iter < 3000; iter++ {
		ms := make([][2]string, r.IntN(8))
		for i := range ms {
			ms[i] = [2]string{randName(r), randValue(r)}
		}
		trail := r.IntN(3) * 5 // bytes after the map (a host buffer may be larger)
		bs := aligned(wireRef(ms), trail)
		s, ok := scanWire(bs)
		if !ok {
			t.Fatalf("%q: not ok", ms)
		}
		if s.n != len(ms) || s.end != len(bs)-trail {
			t.Fatalf("%q: n %d end %d, want %d %d", ms, s.n, s.end, len(ms), len(bs)-trail)
		}
		want, found := lookup(ms, ":status")
		if found != (s.has&hasStatus != 0) || s.status != atoiOr0(want) {
			t.Fatalf("%q: :status = %d %v, want %q %v", ms, s.status, s.has&hasStatus != 0, want, found)
		}
		want, found = lookup(ms, "x-envoy-attempt-count")
		got := string(bs[s.attOff : s.attOff+s.attLen])
		if found != (s.has&hasAttempt != 0) || got != want {
			t.Fatalf("%q: x-envoy-attempt-count = %q %v, want %q %v", ms, got, s.has&hasAttempt != 0, want, found)
		}
		extra := make([][2]string, r.IntN(4))
		for i := range extra {
			extra[i] = [2]string{randName(r), strings.Repeat("e", r.IntN(5))}
		}
		switch r.IntN(3) {
		case 0:
			buf = nil
		case 1:
			buf = make([]byte, 0, r.IntN(40))
		}
		out := encodeWire(buf, bs, &s, pre, len("x-breakwater-policy"), extra)
		buf = out
		wantEnc := wireRef(slices.Concat(ms, [][2]string{{"x-breakwater-policy", "api"}}, extra))
		if string(out) != string(wantEnc) {
			t.Fatalf("%q + %q:\n got %q\nwant %q", ms, extra, out, wantEnc)
		}
	}
}

// TestScanWireMalformed: a map whose counts or lengths run past its bytes
// is refused, as DeserializeMapWire refuses it.
func TestScanWireMalformed(t *testing.T) {
	good := wireRef([][2]string{{":status", "200"}, {"a", "b"}})
	for _, bs := range [][]byte{nil, {1, 0}, good[:len(good)-1], good[:12]} {
		if _, ok := scanWire(aligned(bs, 0)); ok {
			t.Errorf("%q: ok", bs)
		}
	}
	bad := slices.Clone(good)
	binary.LittleEndian.PutUint32(bad[4:], 1<<31) // a key longer than the map
	if _, ok := scanWire(aligned(bad, 0)); ok {
		t.Errorf("%q: ok", bad)
	}
	bad = slices.Clone(good)
	binary.LittleEndian.PutUint32(bad, 3) // one pair more than there is
	if _, ok := scanWire(aligned(bad, 0)); ok {
		t.Errorf("%q: ok", bad)
	}
	if s, ok := scanWire(aligned(wireRef(nil), 0)); !ok || s.n != 0 || s.end != 4 {
		t.Errorf("empty map: %+v %v", s, ok)
	}
}

// decodeRef decodes a header map byte by byte as DeserializeMapWire does
// (nil, false when a length runs past the end): the fuzz target's reference.
func decodeRef(bs []byte) (ms [][2]string, end int, ok bool) {
	if len(bs) < 4 {
		return nil, 0, false
	}
	n := uint64(binary.LittleEndian.Uint32(bs))
	if n > uint64(len(bs)-4)/10 {
		return nil, 0, false
	}
	data := 4 + 8*n
	for i := uint64(0); i < n; i++ {
		kl := uint64(binary.LittleEndian.Uint32(bs[4+8*i:]))
		vl := uint64(binary.LittleEndian.Uint32(bs[8+8*i:]))
		if data+kl+vl+2 > uint64(len(bs)) {
			return nil, 0, false
		}
		ms = append(ms, [2]string{string(bs[data : data+kl]), string(bs[data+kl+1 : data+kl+1+vl])})
		data += kl + vl + 2
	}
	return ms, int(data), true
}

// FuzzScanWire: on any bytes, scanWire accepts exactly the maps the
// byte-by-byte decoder accepts, and finds what lookup finds in them.
func FuzzScanWire(f *testing.F) {
	f.Add(wireRef([][2]string{{":status", "200"}, {"x-envoy-attempt-count", "2"}}))
	f.Add(wireRef([][2]string{{":STATUS", "503"}, {"content-type", "text/plain"}, {":status", "204"}}))
	f.Add(wireRef(nil))
	f.Add([]byte{1, 0, 0, 0, 7, 0, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		bs := aligned(raw, 0)
		s, ok := scanWire(bs)
		ms, end, okRef := decodeRef(raw)
		if ok != okRef {
			t.Fatalf("%q: ok %v, decoder %v", raw, ok, okRef)
		}
		if !ok {
			return
		}
		if s.n != len(ms) || s.end != end {
			t.Fatalf("%q: n %d end %d, want %d %d", raw, s.n, s.end, len(ms), end)
		}
		want, found := lookup(ms, ":status")
		if found != (s.has&hasStatus != 0) || s.status != atoiOr0(want) {
			t.Fatalf("%q: :status = %d %v, want %q %v", raw, s.status, s.has&hasStatus != 0, want, found)
		}
		want, found = lookup(ms, "x-envoy-attempt-count")
		if found != (s.has&hasAttempt != 0) || found && string(bs[s.attOff:s.attOff+s.attLen]) != want {
			t.Fatalf("%q: x-envoy-attempt-count %v, want %q %v", raw, s.has&hasAttempt != 0, want, found)
		}
	})
}
