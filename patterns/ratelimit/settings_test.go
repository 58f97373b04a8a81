package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestParseAlgorithm(t *testing.T) {
	for a := TokenBucket; a < numAlgorithms; a++ {
		got, err := ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Fatalf("%v: round trip gave %v, %v", a, got, err)
		}
	}
	for _, bad := range []string{"", "Token_Bucket", "leaky", "token_bucket "} {
		if _, err := ParseAlgorithm(bad); err == nil || !strings.HasPrefix(err.Error(), "ratelimit: ") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
	if got := Algorithm(9).String(); got != "Algorithm(9)" {
		t.Errorf("unknown algorithm prints %q", got)
	}
	if (Settings{}).Algorithm != TokenBucket {
		t.Error("zero Algorithm must be TokenBucket")
	}
}

func TestNormalize(t *testing.T) {
	ok := []struct {
		in, want Settings
	}{
		{Settings{Requests: 10, Per: time.Second}, Settings{Requests: 10, Per: time.Second, Burst: 10}},
		{Settings{Algorithm: GCRA, Requests: 10, Per: time.Second, Burst: 3}, Settings{Algorithm: GCRA, Requests: 10, Per: time.Second, Burst: 3}},
		{Settings{Algorithm: FixedWindow, Requests: 7, Per: time.Minute}, Settings{Algorithm: FixedWindow, Requests: 7, Per: time.Minute, Burst: 7}},
		{Settings{Algorithm: SlidingWindow, Requests: 7, Per: time.Minute, Burst: 7}, Settings{Algorithm: SlidingWindow, Requests: 7, Per: time.Minute, Burst: 7}},
		{Settings{Algorithm: LeakyBucket, Requests: 50, Per: time.Second, MaxDelay: 200 * time.Millisecond}, Settings{Algorithm: LeakyBucket, Requests: 50, Per: time.Second, Burst: 50, MaxDelay: 200 * time.Millisecond}},
		{Settings{Algorithm: LeakyBucket, Requests: 1, Per: MaxSpan, Burst: 1, MaxDelay: MaxSpan}, Settings{Algorithm: LeakyBucket, Requests: 1, Per: MaxSpan, Burst: 1, MaxDelay: MaxSpan}},
		{Settings{Requests: MaxCount, Per: MaxSpan}, Settings{Requests: MaxCount, Per: MaxSpan, Burst: MaxCount}},
	}
	for _, c := range ok {
		got, err := c.in.Normalize()
		if err != nil || got != c.want {
			t.Errorf("%+v: got %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		again, err := got.Normalize()
		if err != nil || again != got {
			t.Errorf("Normalize not idempotent on %+v: %+v, %v", got, again, err)
		}
	}
	bad := []struct {
		in   Settings
		want string
	}{
		{Settings{Algorithm: 5, Requests: 1, Per: time.Second}, "unknown algorithm"},
		{Settings{Per: time.Second}, "requests"},
		{Settings{Requests: -1, Per: time.Second}, "requests"},
		{Settings{Requests: MaxCount + 1, Per: time.Second}, "requests"},
		{Settings{Requests: 1}, "per"},
		{Settings{Requests: 1, Per: -time.Second}, "per"},
		{Settings{Requests: 1, Per: MaxSpan + 1}, "per"},
		{Settings{Requests: 1, Per: time.Second, Burst: -1}, "burst"},
		{Settings{Algorithm: FixedWindow, Requests: 5, Per: time.Second, Burst: 6}, "burst: does not apply to fixed_window"},
		{Settings{Algorithm: SlidingWindow, Requests: 5, Per: time.Second, Burst: 1}, "burst: does not apply to sliding_window"},
		{Settings{Requests: 5, Per: time.Second, MaxDelay: time.Millisecond}, "max_delay: applies to leaky_bucket only"},
		{Settings{Algorithm: LeakyBucket, Requests: 5, Per: time.Second, MaxDelay: -1}, "max_delay"},
		{Settings{Algorithm: LeakyBucket, Requests: 5, Per: time.Second, MaxDelay: MaxSpan + 1}, "max_delay"},
		{Settings{Requests: 1, Per: MaxSpan, Burst: 2}, "to refill (burst × per / requests)"},
	}
	for _, c := range bad {
		_, err := c.in.Normalize()
		if err == nil || !strings.HasPrefix(err.Error(), "ratelimit: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err %v, want %q", c.in, err, c.want)
		}
		if d, next := Decide(c.in, nil, time.Unix(1, 0), 1); d.Allowed || d.RetryAfter != Never || next != nil {
			t.Errorf("%+v: invalid settings decided %+v", c.in, d)
		}
	}
}
