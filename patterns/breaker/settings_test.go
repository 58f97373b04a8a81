package breaker

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestNormalizeDefaults(t *testing.T) {
	got, err := Settings{}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		Window: CountWindow, WindowSize: 100, MinimumCalls: 20, FailureRateThreshold: 0.5,
		SlowCallRateThreshold: 1.0, OpenDuration: 30 * time.Second, MaxOpenDuration: 5 * time.Minute,
		OpenBackoff: 1.0, HalfOpenCalls: 1, HalfOpenMaxWait: time.Minute, Mode: Enforce,
	}
	if got != want {
		t.Fatalf("zero settings normalize to\n%+v\nwant\n%+v", got, want)
	}
	cases := []struct {
		name string
		in   Settings
		want func(Settings) bool
	}{
		{"time window gets 10 buckets", Settings{Window: TimeWindow, WindowDuration: time.Minute},
			func(s Settings) bool { return s.Buckets == 10 && s.MinimumCalls == 20 }},
		{"small count window clamps default minimum_calls", Settings{WindowSize: 5},
			func(s Settings) bool { return s.MinimumCalls == 5 }},
		{"explicit minimum_calls kept", Settings{WindowSize: 50, MinimumCalls: 7},
			func(s Settings) bool { return s.MinimumCalls == 7 }},
		{"long open_duration raises default max", Settings{OpenDuration: 10 * time.Minute},
			func(s Settings) bool { return s.MaxOpenDuration == 10*time.Minute }},
		{"open_duration derives from an explicit short max", Settings{MaxOpenDuration: 10 * time.Second},
			func(s Settings) bool { return s.OpenDuration == 10*time.Second }},
		{"count window grows for an explicit minimum_calls", Settings{MinimumCalls: 500},
			func(s Settings) bool { return s.WindowSize == 500 }},
		{"short time window gets 1ms buckets", Settings{Window: TimeWindow, WindowDuration: 5 * time.Millisecond},
			func(s Settings) bool { return s.Buckets == 5 }},
		{"half_open_max_wait: max(open_duration, 60s)", Settings{OpenDuration: 2 * time.Minute},
			func(s Settings) bool { return s.HalfOpenMaxWait == 2*time.Minute }},
		{"half_open_max_wait: the call timeout when longer", Settings{CallTimeout: 90 * time.Second},
			func(s Settings) bool { return s.HalfOpenMaxWait == 90*time.Second }},
		{"half_open_max_wait: open_duration over a short call timeout", Settings{CallTimeout: time.Second},
			func(s Settings) bool { return s.HalfOpenMaxWait == 30*time.Second }},
		{"half_open_max_wait explicit", Settings{HalfOpenMaxWait: time.Second, CallTimeout: time.Hour},
			func(s Settings) bool { return s.HalfOpenMaxWait == time.Second }},
		{"explicit values kept", Settings{FailureRateThreshold: 0.25, SlowCallRateThreshold: 0.75, OpenBackoff: 1.5,
			HalfOpenCalls: 3, ConsecutiveFailures: 4, SlowCallDuration: time.Second, Mode: Observe},
			func(s Settings) bool {
				return s.FailureRateThreshold == 0.25 && s.SlowCallRateThreshold == 0.75 && s.OpenBackoff == 1.5 &&
					s.HalfOpenCalls == 3 && s.ConsecutiveFailures == 4 && s.SlowCallDuration == time.Second && s.Mode == Observe
			}},
	}
	for _, c := range cases {
		got, err := c.in.Normalize()
		if err != nil || !c.want(got) {
			t.Errorf("%s: %+v, %v", c.name, got, err)
		}
		again, err := got.Normalize()
		if err != nil || again != got {
			t.Errorf("%s: Normalize is not idempotent: %+v -> %+v, %v", c.name, got, again, err)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	cases := []struct {
		in   Settings
		want string
	}{
		{Settings{WindowSize: -1}, "window.size"},
		{Settings{WindowSize: MaxWindowSize + 1}, "window.size"},
		{Settings{Buckets: 3}, "count window"},
		{Settings{WindowDuration: time.Second}, "count window"},
		{Settings{Window: TimeWindow}, "window.size"},
		{Settings{Window: TimeWindow, WindowDuration: time.Second, WindowSize: 3}, "time window"},
		{Settings{Window: TimeWindow, WindowDuration: time.Second, Buckets: -1}, "window.buckets"},
		{Settings{Window: TimeWindow, WindowDuration: time.Hour, Buckets: MaxBuckets + 1}, "window.buckets"},
		{Settings{Window: TimeWindow, WindowDuration: 5 * time.Millisecond, Buckets: 10}, "at least 1ms"},
		{Settings{Window: 7}, "window.type"},
		{Settings{MinimumCalls: -1}, "minimum_calls"},
		{Settings{WindowSize: 10, MinimumCalls: 11}, "minimum_calls"},
		{Settings{FailureRateThreshold: 1.5}, "failure_rate_threshold: must be in (0,1], got 1.5"},
		{Settings{FailureRateThreshold: -0.1}, "failure_rate_threshold"},
		{Settings{FailureRateThreshold: math.NaN()}, "failure_rate_threshold"},
		{Settings{ConsecutiveFailures: -1}, "consecutive_failures"},
		{Settings{SlowCallDuration: -time.Second}, "slow_call_duration"},
		{Settings{SlowCallRateThreshold: 2}, "slow_call_rate_threshold"},
		{Settings{OpenDuration: -time.Second}, "open_duration"},
		{Settings{OpenDuration: time.Minute, MaxOpenDuration: time.Second}, "max_open_duration"},
		{Settings{OpenBackoff: 0.5}, "open_backoff"},
		{Settings{OpenBackoff: 101}, "open_backoff"},
		{Settings{OpenDuration: MaxDuration + 1}, "open_duration: must be in [0,87600h0m0s]"},
		{Settings{HalfOpenMaxWait: -1}, "half_open_max_wait"},
		{Settings{Window: TimeWindow, WindowDuration: MaxDuration + 1}, "window.size"},
		{Settings{MinimumCalls: MaxMinimumCalls + 1, Window: TimeWindow, WindowDuration: time.Second}, "minimum_calls"},
		{Settings{OpenBackoff: math.Inf(1)}, "open_backoff"},
		{Settings{OpenBackoff: math.NaN()}, "open_backoff"},
		{Settings{HalfOpenCalls: -1}, "half_open_calls"},
		{Settings{HalfOpenCalls: MaxHalfOpenCalls + 1}, "half_open_calls"},
		{Settings{Mode: 9}, "mode"},
	}
	for _, c := range cases {
		_, err := c.in.Normalize()
		if err == nil || !strings.HasPrefix(err.Error(), "breaker: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestNamesAndParseMode(t *testing.T) {
	if Closed.String() != "closed" || Open.String() != "open" || HalfOpen.String() != "half_open" || State(9).String() != "state(9)" {
		t.Error("State.String")
	}
	if CountWindow.String() != "count" || TimeWindow.String() != "time" {
		t.Error("WindowType.String")
	}
	for _, m := range []Mode{Enforce, Observe, ForcedOpen, Disabled} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("Enforce"); err == nil || !strings.HasPrefix(err.Error(), "breaker: mode") {
		t.Errorf("ParseMode of an unknown mode: %v", err)
	}
	if uint8(Closed) != 0 || uint8(Open) != 1 || uint8(HalfOpen) != 2 {
		t.Error("gauge values of the README")
	}
}

func TestOpenFor(t *testing.T) {
	s, _ := Settings{OpenDuration: 10 * time.Second, OpenBackoff: 2, MaxOpenDuration: 75 * time.Second}.Normalize()
	want := []time.Duration{10 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 75 * time.Second, 75 * time.Second}
	for trip, w := range want {
		if got := s.openFor(uint32(trip)); got != w {
			t.Errorf("trip %d: %v, want %v", trip, got, w)
		}
	}
	if got := s.openFor(math.MaxUint32); got != 75*time.Second {
		t.Errorf("huge trip: %v", got)
	}
	s1, _ := Settings{OpenDuration: 10 * time.Second}.Normalize()
	if got := s1.openFor(1000); got != 10*time.Second {
		t.Errorf("backoff 1: %v", got)
	}
}

func TestNewWithInvalidSettings(t *testing.T) {
	b := New("cb", 1, Settings{FailureRateThreshold: 3})
	if _, ok, _, err := b.Allow(nil, "", t0); ok || err == nil {
		t.Fatalf("Allow with invalid settings: ok=%v err=%v", ok, err)
	}
	if _, err := b.Report(nil, "", Token{Generation: 1}, t0, Outcome{}); err == nil {
		t.Fatal("Report with invalid settings")
	}
	if err := b.Release(nil, "", Token{Generation: 1, Probe: true}, t0); err == nil {
		t.Fatal("Release with invalid settings")
	}
	if _, err := b.State(nil, "", t0); err == nil {
		t.Fatal("State with invalid settings")
	}
	if _, err := b.Inspect(nil, "", t0); err == nil {
		t.Fatal("Inspect with invalid settings")
	}
}
