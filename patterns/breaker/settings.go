package breaker

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// State is the state of one breaker key. Its numeric values are those of the
// circuit_breaker.state gauge (README, Metrics).
type State uint8

// States.
const (
	Closed   State = 0
	Open     State = 1
	HalfOpen State = 2
)

// String returns "closed", "open" or "half_open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Mode is the circuit_breaker.mode of docs/configuration.md.
type Mode uint8

// Modes. The zero value is Enforce.
const (
	// Enforce counts outcomes, moves between states and rejects while open.
	Enforce Mode = iota
	// Observe counts outcomes and moves between states exactly as Enforce
	// but never rejects: a request Enforce would reject is admitted with
	// Token.WouldReject set, and its outcome is not recorded (as in Enforce,
	// where it would never have reached the upstream).
	Observe
	// ForcedOpen rejects every request and records nothing.
	ForcedOpen
	// Disabled admits every request and records nothing (no store access).
	Disabled
)

// String returns the docs/configuration.md spelling: "enforce", "observe",
// "forced_open", "disabled".
func (m Mode) String() string {
	switch m {
	case Enforce:
		return "enforce"
	case Observe:
		return "observe"
	case ForcedOpen:
		return "forced_open"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses the docs/configuration.md spelling of a mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "enforce":
		return Enforce, nil
	case "observe":
		return Observe, nil
	case "forced_open":
		return ForcedOpen, nil
	case "disabled":
		return Disabled, nil
	}
	return 0, fmt.Errorf("breaker: mode: must be one of enforce, observe, forced_open, disabled, got %q", s)
}

// WindowType is circuit_breaker.window.type. The zero value is CountWindow.
type WindowType uint8

// Window types.
const (
	// CountWindow keeps the last WindowSize outcomes.
	CountWindow WindowType = iota
	// TimeWindow keeps the outcomes of the last WindowDuration, split in Buckets.
	TimeWindow
)

// String returns "count" or "time".
func (w WindowType) String() string {
	switch w {
	case CountWindow:
		return "count"
	case TimeWindow:
		return "time"
	}
	return fmt.Sprintf("window(%d)", uint8(w))
}

// Bounds enforced by Normalize. They bound the size of the state record
// (see doc.go).
const (
	MaxWindowSize     = 10000 // count window: at most 10000 calls (2×1250 bytes of bits)
	MaxBuckets        = 600   // time window: at most 600 buckets (12 bytes each)
	MinBucketDuration = time.Millisecond
	MaxHalfOpenCalls  = 64 // probe slots are the bits of a uint64 in the record
	MaxConsecutive    = math.MaxInt32
)

// Defaults applied by Normalize to zero fields (those of docs/configuration.md).
const (
	DefaultWindowSize            = 100
	DefaultBuckets               = 10
	DefaultMinimumCalls          = 20
	DefaultFailureRateThreshold  = 0.5
	DefaultSlowCallRateThreshold = 1.0
	DefaultOpenDuration          = 30 * time.Second
	DefaultMaxOpenDuration       = 5 * time.Minute
	DefaultOpenBackoff           = 1.0
	DefaultHalfOpenCalls         = 1
)

// Settings configure a Breaker. The zero value of every field means "the
// default of docs/configuration.md"; Normalize applies the defaults and validates. The
// zero Settings is valid: a count window of 100 calls, minimum 20 calls,
// failure rate 0.5, no consecutive-failure rule, slow calls not tracked, open
// 30s without growth (max 5m), one half-open probe, enforce.
type Settings struct {
	// Window selects a count window (WindowSize) or a time window
	// (WindowDuration split in Buckets).
	Window WindowType
	// WindowSize is the number of calls of a count window (default 100,
	// at most MaxWindowSize). Must be 0 for a time window.
	WindowSize int
	// WindowDuration is the size of a time window (required > 0 for a time
	// window). Must be 0 for a count window.
	WindowDuration time.Duration
	// Buckets splits a time window (default 10, at most MaxBuckets, each
	// bucket at least MinBucketDuration). Must be 0 for a count window.
	Buckets int
	// MinimumCalls is the number of calls in the window before the rates are
	// considered (default 20; for a count window smaller than 20 the default
	// is the window size; an explicit value above a count window's size is an
	// error).
	MinimumCalls int
	// FailureRateThreshold in (0,1] (default 0.5).
	FailureRateThreshold float64
	// ConsecutiveFailures > 0 opens the breaker after that many failures in a
	// row in the closed state; 0 (default) turns the rule off.
	ConsecutiveFailures int
	// SlowCallDuration: a call lasting at least this long is slow. 0 (default)
	// means slow calls are not tracked.
	SlowCallDuration time.Duration
	// SlowCallRateThreshold in (0,1] (default 1.0).
	SlowCallRateThreshold float64
	// OpenDuration is the time spent open after the first trip (default 30s).
	OpenDuration time.Duration
	// MaxOpenDuration caps the grown open duration (default 5m, or
	// OpenDuration when that is longer; an explicit value below OpenDuration
	// is an error).
	MaxOpenDuration time.Duration
	// OpenBackoff >= 1 multiplies the open duration at each further trip in
	// a row (default 1: no growth).
	OpenBackoff float64
	// HalfOpenCalls is the number of probes admitted in half-open, across all
	// workers (default 1, at most MaxHalfOpenCalls).
	HalfOpenCalls int
	// Mode: Enforce (default), Observe, ForcedOpen, Disabled.
	Mode Mode
}

func errf(format string, a ...any) error {
	return errors.New("breaker: " + fmt.Sprintf(format, a...))
}

func validRate(f float64) bool { return f > 0 && f <= 1 && !math.IsNaN(f) }

// Normalize returns s with the defaults applied to its zero fields, or an
// error ("breaker: FIELD: reason") naming the docs/configuration.md field that is out of
// range. It is the one place where defaults are decided; it is idempotent.
func (s Settings) Normalize() (Settings, error) {
	switch s.Window {
	case CountWindow:
		if s.WindowDuration != 0 || s.Buckets != 0 {
			return s, errf("window: a count window takes a size in calls and no buckets")
		}
		if s.WindowSize == 0 {
			s.WindowSize = DefaultWindowSize
		}
		if s.WindowSize < 1 || s.WindowSize > MaxWindowSize {
			return s, errf("window.size: must be in [1,%d] calls, got %d", MaxWindowSize, s.WindowSize)
		}
	case TimeWindow:
		if s.WindowSize != 0 {
			return s, errf("window: a time window takes a duration, not a count")
		}
		if s.WindowDuration <= 0 {
			return s, errf("window.size: must be a positive duration for a time window, got %v", s.WindowDuration)
		}
		if s.Buckets == 0 {
			s.Buckets = DefaultBuckets
		}
		if s.Buckets < 1 || s.Buckets > MaxBuckets {
			return s, errf("window.buckets: must be in [1,%d], got %d", MaxBuckets, s.Buckets)
		}
		if s.WindowDuration/time.Duration(s.Buckets) < MinBucketDuration {
			return s, errf("window: each bucket (size/buckets) must last at least %v, got %v", MinBucketDuration, s.WindowDuration/time.Duration(s.Buckets))
		}
	default:
		return s, errf("window.type: must be count or time, got %v", s.Window)
	}
	switch {
	case s.MinimumCalls < 0:
		return s, errf("minimum_calls: must be positive, got %d", s.MinimumCalls)
	case s.MinimumCalls == 0:
		s.MinimumCalls = DefaultMinimumCalls
		if s.Window == CountWindow && s.MinimumCalls > s.WindowSize {
			s.MinimumCalls = s.WindowSize
		}
	case s.Window == CountWindow && s.MinimumCalls > s.WindowSize:
		return s, errf("minimum_calls: %d can never be reached by a count window of %d calls", s.MinimumCalls, s.WindowSize)
	}
	if s.FailureRateThreshold == 0 {
		s.FailureRateThreshold = DefaultFailureRateThreshold
	}
	if !validRate(s.FailureRateThreshold) {
		return s, errf("failure_rate_threshold: must be in (0,1], got %v", s.FailureRateThreshold)
	}
	if s.ConsecutiveFailures < 0 || s.ConsecutiveFailures > MaxConsecutive {
		return s, errf("consecutive_failures: must be in [0,%d], got %d", MaxConsecutive, s.ConsecutiveFailures)
	}
	if s.SlowCallDuration < 0 {
		return s, errf("slow_call_duration: must be positive, got %v", s.SlowCallDuration)
	}
	if s.SlowCallRateThreshold == 0 {
		s.SlowCallRateThreshold = DefaultSlowCallRateThreshold
	}
	if !validRate(s.SlowCallRateThreshold) {
		return s, errf("slow_call_rate_threshold: must be in (0,1], got %v", s.SlowCallRateThreshold)
	}
	if s.OpenDuration == 0 {
		s.OpenDuration = DefaultOpenDuration
	}
	if s.OpenDuration < 0 {
		return s, errf("open_duration: must be positive, got %v", s.OpenDuration)
	}
	if s.MaxOpenDuration == 0 {
		s.MaxOpenDuration = max(DefaultMaxOpenDuration, s.OpenDuration)
	}
	if s.MaxOpenDuration < s.OpenDuration {
		return s, errf("max_open_duration: must be at least open_duration (%v), got %v", s.OpenDuration, s.MaxOpenDuration)
	}
	if s.OpenBackoff == 0 {
		s.OpenBackoff = DefaultOpenBackoff
	}
	if !(s.OpenBackoff >= 1) || math.IsInf(s.OpenBackoff, 0) {
		return s, errf("open_backoff: must be a finite number >= 1, got %v", s.OpenBackoff)
	}
	if s.HalfOpenCalls == 0 {
		s.HalfOpenCalls = DefaultHalfOpenCalls
	}
	if s.HalfOpenCalls < 1 || s.HalfOpenCalls > MaxHalfOpenCalls {
		return s, errf("half_open_calls: must be in [1,%d], got %d", MaxHalfOpenCalls, s.HalfOpenCalls)
	}
	if s.Mode > Disabled {
		return s, errf("mode: unknown mode %d", uint8(s.Mode))
	}
	return s, nil
}

// openFor is the open duration after the trip-th trip in a row (trip >= 1):
// OpenDuration × OpenBackoff^(trip-1), capped at MaxOpenDuration.
func (s *Settings) openFor(trip uint32) time.Duration {
	if trip <= 1 || s.OpenBackoff == 1 {
		return s.OpenDuration
	}
	d := float64(s.OpenDuration) * math.Pow(s.OpenBackoff, float64(trip-1))
	if !(d < float64(s.MaxOpenDuration)) { // also catches +Inf
		return s.MaxOpenDuration
	}
	return time.Duration(d)
}
