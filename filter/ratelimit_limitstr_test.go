package filter

import (
	"strconv"
	"testing"
)

// TestLimitString: the stage's cached RateLimit-Limit value is the value
// formatted, whatever the order of the limits asked.
func TestLimitString(t *testing.T) {
	var s rateLimitStage
	for _, n := range []int64{0, 1000000, 1000000, 7, 0, 1 << 62, 7, 7, 12} {
		if got := s.limitString(n); got != strconv.FormatInt(n, 10) {
			t.Fatalf("%d: %q", n, got)
		}
	}
}
