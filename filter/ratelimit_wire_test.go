package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/breakwater/breakwater/filter/config"
)

// TestPutDigits: putDigits writes strconv's digits of every length, and
// only them.
func TestPutDigits(t *testing.T) {
	vs := []uint64{0, 1, 9, 10, 12, 99, 100, 254, 999, 1000, 1e6 - 1, 1e6, 123456789, 1e18, math.MaxInt64, 1e19 - 1, 1e19, math.MaxUint64}
	for p := uint64(1); p <= 1e18; p *= 10 {
		vs = append(vs, p-1, p, p+1)
	}
	for _, v := range vs {
		var b [24]byte
		for i := range b {
			b[i] = 'x'
		}
		n := putDigits(unsafe.Pointer(&b[0]), v)
		want := strconv.FormatUint(v, 10)
		if got := string(b[:n]); got != want || b[n] != 'x' {
			t.Fatalf("putDigits(%d) = %q (then %q), want %q", v, got, b[n], want)
		}
	}
}

// TestCeilSecs: ceilSecs is ceilSeconds' number.
func TestCeilSecs(t *testing.T) {
	for _, d := range []time.Duration{-time.Second, 0, 1, time.Second - 1, time.Second, time.Second + 1, 90 * time.Minute} {
		if got, want := strconv.FormatUint(ceilSecs(d), 10), ceilSeconds(d); got != want {
			t.Fatalf("ceilSecs(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestRateLimitWireBlock: the RateLimit-* block a stage writes into a stream
// block, encoded with a response's headers by encodeWireBlock, is what
// encodeWire writes for the same headers as pairs; values of changing
// lengths (the block reused) and a limit whose encoding is too long for
// the block (the headers go as pairs) included.
func TestRateLimitWireBlock(t *testing.T) {
	for _, name := range []string{"api", string(make([]byte, rlPreMax))} {
		pol := &policy{name: name, respPre: prePolicy(name)}
		s := &rateLimitStage{pol: pol}
		h := &httpContext{pol: pol, b: &streamBufs{}}
		wire := aligned(wireRef([][2]string{{":status", "200"}, {"content-type", "text/plain"}}), 0)
		up, ok := scanWire(wire)
		if !ok {
			t.Fatal("scanWire")
		}
		for _, c := range []struct {
			limit, rem int64
			reset      time.Duration
		}{{5, 4, 12 * time.Second}, {1000000, 999999, time.Second}, {1000000, 7, 0}, {10, -3, time.Millisecond}, {math.MaxInt64, math.MaxInt64, 1 << 50}} {
			h.respHeaders = nil
			s.keepRateValues(h, c.limit, c.rem, c.reset)
			want := [][2]string{{"ratelimit-limit", strconv.FormatInt(c.limit, 10)},
				{"ratelimit-remaining", strconv.FormatInt(max(c.rem, 0), 10)}, {"ratelimit-reset", ceilSeconds(c.reset)}}
			if len(h.respHeaders) != 3 || h.respHeaders[0] != want[0] || h.respHeaders[1] != want[1] || h.respHeaders[2] != want[2] {
				t.Fatalf("%+v: headers %q, want %q", c, h.respHeaders, want)
			}
			blk := h.wireBlock()
			if ok := blk != nil; ok != (len(name) < rlPreMax) {
				t.Fatalf("policy name of %d bytes: block %v", len(name), ok)
			}
			if blk == nil {
				continue
			}
			got := encodeWireBlock(nil, wire, &up, blk)
			exp := encodeWire(nil, wire, &up, pol.respPre, len("x-breakwater-policy"), want)
			if string(got) != string(exp) {
				t.Fatalf("%+v: block encoding\n%q, want\n%q", c, got, exp)
			}
		}
	}
}

// TestKeyHashLastByte: values that differ only in their last byte take
// different entries of a key cache (keyHash adds that byte unmixed, as
// FNV-1a keeps such values apart), at every length.
func TestKeyHashLastByte(t *testing.T) {
	for n := 1; n <= keyCacheLen; n++ {
		b := []byte(strings.Repeat("k", n))
		seen := map[uint32]byte{}
		for c := 0; c < 256; c++ {
			b[n-1] = byte(c)
			h := keyHash(string(b)) % keyCacheSize
			if o, ok := seen[h]; ok {
				t.Fatalf("length %d: last bytes %d and %d share entry %d", n, o, c, h)
			}
			seen[h] = byte(c)
		}
	}
}

// TestKeyHashSpread: a thousand distinct values of the shapes clients
// send (sequential ids, numbers, hex ids, e-mail addresses, long tokens
// that differ in the middle) take about as many entries of a key cache as
// random placement would (at least 90% of its expectation,
// m*(1-(1-1/m)^n)). The hash once used the low bits of a product alone:
// sequential ids "user-0" to "user-999" took 98 of 256 entries, so a
// thousand clients missed the cache on most requests.
func TestKeyHashSpread(t *testing.T) {
	const n = 1000
	want := 0.9 * keyCacheSize * (1 - math.Pow(1-1.0/keyCacheSize, n))
	shapes := map[string]func(i int) string{
		"user-N":  func(i int) string { return "user-" + strconv.Itoa(i) },
		"N":       func(i int) string { return strconv.Itoa(i) },
		"1e6+N":   func(i int) string { return strconv.Itoa(1_000_000 + i) },
		"hex":     func(i int) string { return fmt.Sprintf("%016x", uint64(i)*0x9e3779b97f4a7c15) },
		"email":   func(i int) string { return "user" + strconv.Itoa(i) + "@example.com" },
		"middle":  func(i int) string { return "tenant-aaaaaaaa-" + strconv.Itoa(i) + "-bbbbbbbbbbbbbbbb" },
		"trailer": func(i int) string { return strconv.Itoa(i) + "-fixed-suffix" },
	}
	for name, f := range shapes {
		seen := map[uint32]bool{}
		for i := 0; i < n; i++ {
			seen[keyHash(f(i))%keyCacheSize] = true
		}
		if float64(len(seen)) < want {
			t.Errorf("%s: %d values in %d entries of %d, want at least %.0f", name, n, len(seen), keyCacheSize, want)
		}
	}
}

// TestLeaseCapacity: a limit without key parts keeps one set of leases
// (its one key); a keyed one min(max_keys, leaseKeys) keys.
func TestLeaseCapacity(t *testing.T) {
	for _, c := range []struct {
		keys    []config.KeyPart
		maxKeys int
		want    int
	}{
		{nil, 10000, 1},
		{[]config.KeyPart{{Kind: config.KeyHeader, Arg: "x-user-id"}}, 10000, leaseKeys},
		{[]config.KeyPart{{Kind: config.KeyPath}}, 100, 100},
		{[]config.KeyPart{{Kind: config.KeyPath}}, 0, 1},
	} {
		if got := leaseCapacity(&config.Limit{Key: c.keys, MaxKeys: c.maxKeys}); got != c.want {
			t.Errorf("key %v, max_keys %d: capacity %d, want %d", c.keys, c.maxKeys, got, c.want)
		}
	}
}
