package filter

import (
	"strconv"
	"testing"
)

// TestAttemptCount: x-envoy-attempt-count values as Envoy writes them
// (decimal, at least 1) parse as strconv.Atoi did; anything else is
// refused (the caller then falls back to the property, else 1).
func TestAttemptCount(t *testing.T) {
	for _, v := range []string{"1", "2", "3", "10", "0001", "123456789"} {
		want, _ := strconv.Atoi(v)
		if n, ok := attemptCount(v); !ok || n != want {
			t.Errorf("%q: %d %v, want %d", v, n, ok, want)
		}
	}
	for _, v := range []string{"", "0", "000", "-1", "+2", " 2", "2 ", "1.0", "x", "1234567890", "99999999999999999999"} {
		if n, ok := attemptCount(v); ok {
			t.Errorf("%q: accepted as %d", v, n)
		}
	}
}
