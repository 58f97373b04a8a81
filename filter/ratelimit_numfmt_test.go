package filter

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// formatNum, and formatNum of ceilSecs as the RateLimit-Reset value is
// written, give exactly strconv's and ceilSeconds' strings, including at
// every digit-count boundary and the int64 extremes.
func TestFormatNumMatchesStrconv(t *testing.T) {
	var vs []int64
	for v := int64(0); v < 2000; v++ {
		vs = append(vs, v)
	}
	for p := int64(10); p > 0 && p <= math.MaxInt64/10; p *= 10 {
		vs = append(vs, p-1, p, p+1, 2*p-1, 5*p+5)
	}
	vs = append(vs, 999_999, 1_000_000, 9_999_999, math.MaxInt64-1, math.MaxInt64)
	var dst [20]byte
	for _, v := range vs {
		if got, want := formatNum(&dst, v), strconv.FormatInt(v, 10); got != want {
			t.Fatalf("formatNum(%d) = %q, want %q", v, got, want)
		}
	}
	for _, d := range []time.Duration{-time.Second, 0, 1, time.Millisecond, time.Second - 1, time.Second,
		time.Second + 1, 99 * time.Second, 100 * time.Second, 101*time.Second - 1, time.Hour, 1<<62 - 1} {
		if got, want := formatNum(&dst, int64(ceilSecs(d))), ceilSeconds(d); got != want {
			t.Fatalf("formatNum(ceilSecs(%v)) = %q, want %q", d, got, want)
		}
	}
}
