package breaker

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
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
// (see doc.go) and keep every instant computed from a duration (now plus
// an open duration, a bucket index) far from int64 overflow.
const (
	MaxWindowSize     = 10000 // count window: at most 10000 calls (2×1250 bytes of bits)
	MaxBuckets        = 600   // time window: at most 600 buckets (12 bytes each)
	MinBucketDuration = time.Millisecond
	MaxHalfOpenCalls  = 64 // probe slots are the bits of a uint64 in the record
	MaxConsecutive    = math.MaxInt32
	MaxMinimumCalls   = 1_000_000
	MaxOpenBackoff    = 100
	// MaxDuration bounds every duration of the Settings (87600h, 10 years).
	MaxDuration = 87600 * time.Hour
)

// Defaults applied by Normalize to zero fields. Some derive from other
// fields (see Settings).
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
	// DefaultCallTimeout stands for the request timeout when the policy
	// sets none, in the default of HalfOpenMaxWait.
	DefaultCallTimeout = 60 * time.Second
)

// Settings configure a Breaker. The zero value of every field means "the
// default"; Normalize applies the defaults and validates. A default never
// makes an explicit value invalid: the defaults that depend on another
// field derive from it (marked "derived" below). The zero Settings is valid:
// a count window of 100 calls, minimum 20 calls, failure rate 0.5, no
// consecutive-failure rule, slow calls not tracked, open 30s without growth
// (max 5m), one half-open probe re-armed after 60s without an outcome,
// enforce.
type Settings struct {
	// Window selects a count window (WindowSize) or a time window
	// (WindowDuration split in Buckets).
	Window WindowType
	// WindowSize is the number of calls of a count window
	// (1..MaxWindowSize). Derived default: max(100, MinimumCalls), at most
	// MaxWindowSize. Must be 0 for a time window.
	WindowSize int
	// WindowDuration is the size of a time window (required > 0 for a time
	// window, at most MaxDuration). Must be 0 for a count window.
	WindowDuration time.Duration
	// Buckets splits a time window (1..MaxBuckets, each bucket at least
	// MinBucketDuration). Derived default: min(10, WindowDuration/1ms), so
	// a short window gets buckets of 1ms rather than an error. Must be 0
	// for a count window.
	Buckets int
	// MinimumCalls is the number of calls in the window before the rates are
	// considered (1..MaxMinimumCalls). Derived default: min(20, WindowSize)
	// for a count window, 20 for a time window. An explicit value above a
	// count window's size is an error naming both.
	MinimumCalls int
	// FailureRateThreshold in (0,1] (default 0.5).
	FailureRateThreshold float64
	// ConsecutiveFailures > 0 opens the breaker after that many failures in a
	// row in the closed state; 0 (default) turns the rule off.
	ConsecutiveFailures int
	// SlowCallDuration: a call lasting at least this long is slow. 0 (default)
	// means slow calls are not tracked. At most MaxDuration.
	SlowCallDuration time.Duration
	// SlowCallRateThreshold in (0,1] (default 1.0).
	SlowCallRateThreshold float64
	// OpenDuration is the time spent open after the first trip (at most
	// MaxDuration). Derived default: min(30s, MaxOpenDuration) (30s when
	// MaxOpenDuration is 0 too).
	OpenDuration time.Duration
	// MaxOpenDuration caps the grown open duration (at most MaxDuration).
	// Derived default: max(5m, OpenDuration). An explicit value below
	// OpenDuration is an error naming both.
	MaxOpenDuration time.Duration
	// OpenBackoff >= 1 multiplies the open duration at each further trip in
	// a row (default 1: no growth).
	OpenBackoff float64
	// HalfOpenCalls is the number of probes admitted in half-open, across all
	// workers (default 1, at most MaxHalfOpenCalls).
	HalfOpenCalls int
	// HalfOpenMaxWait is how long a half-open breaker whose probe slots are
	// all taken waits for their outcomes before it re-arms them (a probe
	// that never reports: its worker vanished). A released probe frees its
	// slot at once. At most MaxDuration. Derived default:
	// max(OpenDuration, CallTimeout), CallTimeout counting as
	// DefaultCallTimeout (60s) when 0, so a probe that is merely slow never
	// lets a second one in.
	HalfOpenMaxWait time.Duration
	// CallTimeout is the longest a call of the policy may take (its request
	// timeout); it only derives the default of HalfOpenMaxWait. 0: none set
	// (DefaultCallTimeout is used). At most MaxDuration.
	CallTimeout time.Duration
	// Mode: Enforce (default), Observe, ForcedOpen, Disabled.
	Mode Mode
}

// ErrInvalid is wrapped by every error Normalize returns (a *field.Error).
var ErrInvalid = errors.New("breaker: invalid settings")

// errf is a *field.Error of the breaker. Not inlined: Normalize calls it
// from many places, each a copy of field.New's call otherwise.
//
//go:noinline
func errf(name, format string, a ...any) error {
	return field.New("breaker", ErrInvalid, name, format, a...)
}

func validRate(f float64) bool { return f > 0 && f <= 1 && !math.IsNaN(f) }

// duration checks a duration field: in [0, MaxDuration].
func duration(name string, d time.Duration) error {
	if d < 0 || d > MaxDuration {
		return errf(name, "must be in [0,%v], got %v", MaxDuration, d)
	}
	return nil
}

// Normalize returns s with the defaults applied to its zero fields, or a
// *field.Error naming the configuration field that is out of range
// ("breaker: FIELD: reason"). It is the one place where the breaker's
// defaults and cross-field rules live; it is idempotent.
func (s Settings) Normalize() (Settings, error) {
	for _, d := range []struct {
		name string
		d    time.Duration
	}{{"window.size", s.WindowDuration}, {"slow_call_duration", s.SlowCallDuration}, {"open_duration", s.OpenDuration},
		{"max_open_duration", s.MaxOpenDuration}, {"half_open_max_wait", s.HalfOpenMaxWait}, {"call timeout", s.CallTimeout}} {
		if err := duration(d.name, d.d); err != nil {
			return s, err
		}
	}
	switch s.Window {
	case CountWindow:
		if s.WindowDuration != 0 || s.Buckets != 0 {
			return s, errf("window", "a count window takes a size in calls and no buckets")
		}
		if s.WindowSize == 0 {
			// Derived: large enough for an explicit minimum_calls.
			s.WindowSize = min(max(DefaultWindowSize, s.MinimumCalls), MaxWindowSize)
		}
		if s.WindowSize < 1 || s.WindowSize > MaxWindowSize {
			return s, errf("window.size", "must be in [1,%d] calls, got %d", MaxWindowSize, s.WindowSize)
		}
	case TimeWindow:
		if s.WindowSize != 0 {
			return s, errf("window", "a time window takes a duration, not a count")
		}
		if s.WindowDuration <= 0 {
			return s, errf("window.size", "must be a positive duration for a time window, got %v", s.WindowDuration)
		}
		if s.WindowDuration < MinBucketDuration {
			return s, errf("window.size", "must be at least %v (one bucket), got %v", MinBucketDuration, s.WindowDuration)
		}
		if s.Buckets == 0 {
			s.Buckets = int(min(DefaultBuckets, s.WindowDuration/MinBucketDuration))
		}
		if s.Buckets < 1 || s.Buckets > MaxBuckets {
			return s, errf("window.buckets", "must be in [1,%d], got %d", MaxBuckets, s.Buckets)
		}
		if s.WindowDuration/time.Duration(s.Buckets) < MinBucketDuration {
			return s, field.Conflict("breaker", ErrInvalid, "window.buckets", "window.size",
				"must leave buckets of at least %v in window.size (%v), got %v / %d = %v",
				MinBucketDuration, s.WindowDuration, s.WindowDuration, s.Buckets, s.WindowDuration/time.Duration(s.Buckets))
		}
	default:
		return s, errf("window.type", "must be count or time, got %v", s.Window)
	}
	switch {
	case s.MinimumCalls < 0 || s.MinimumCalls > MaxMinimumCalls:
		return s, errf("minimum_calls", "must be in [1,%d], got %d", MaxMinimumCalls, s.MinimumCalls)
	case s.MinimumCalls == 0:
		s.MinimumCalls = DefaultMinimumCalls
		if s.Window == CountWindow && s.MinimumCalls > s.WindowSize {
			s.MinimumCalls = s.WindowSize
		}
	case s.Window == CountWindow && s.MinimumCalls > s.WindowSize:
		return s, field.Conflict("breaker", ErrInvalid, "minimum_calls", "window.size",
			"must be at most window.size (%d), got %d: a count window of %d calls never reaches it", s.WindowSize, s.MinimumCalls, s.WindowSize)
	}
	if s.FailureRateThreshold == 0 {
		s.FailureRateThreshold = DefaultFailureRateThreshold
	}
	if !validRate(s.FailureRateThreshold) {
		return s, errf("failure_rate_threshold", "must be in (0,1], got %v", s.FailureRateThreshold)
	}
	if s.ConsecutiveFailures < 0 || s.ConsecutiveFailures > MaxConsecutive {
		return s, errf("consecutive_failures", "must be in [0,%d], got %d", MaxConsecutive, s.ConsecutiveFailures)
	}
	if s.SlowCallRateThreshold == 0 {
		s.SlowCallRateThreshold = DefaultSlowCallRateThreshold
	}
	if !validRate(s.SlowCallRateThreshold) {
		return s, errf("slow_call_rate_threshold", "must be in (0,1], got %v", s.SlowCallRateThreshold)
	}
	if s.OpenDuration == 0 {
		s.OpenDuration = DefaultOpenDuration
		if s.MaxOpenDuration != 0 {
			s.OpenDuration = min(DefaultOpenDuration, s.MaxOpenDuration)
		}
	}
	if s.MaxOpenDuration == 0 {
		s.MaxOpenDuration = max(DefaultMaxOpenDuration, s.OpenDuration)
	}
	if s.MaxOpenDuration < s.OpenDuration {
		return s, field.Conflict("breaker", ErrInvalid, "max_open_duration", "open_duration",
			"must be at least open_duration (%v), got %v", s.OpenDuration, s.MaxOpenDuration)
	}
	if s.OpenBackoff == 0 {
		s.OpenBackoff = DefaultOpenBackoff
	}
	if !(s.OpenBackoff >= 1 && s.OpenBackoff <= MaxOpenBackoff) {
		return s, errf("open_backoff", "must be in [1,%v], got %v", float64(MaxOpenBackoff), s.OpenBackoff)
	}
	if s.HalfOpenCalls == 0 {
		s.HalfOpenCalls = DefaultHalfOpenCalls
	}
	if s.HalfOpenCalls < 1 || s.HalfOpenCalls > MaxHalfOpenCalls {
		return s, errf("half_open_calls", "must be in [1,%d], got %d", MaxHalfOpenCalls, s.HalfOpenCalls)
	}
	if s.HalfOpenMaxWait == 0 {
		call := s.CallTimeout
		if call == 0 {
			call = DefaultCallTimeout
		}
		s.HalfOpenMaxWait = max(s.OpenDuration, call)
	}
	if s.Mode > Disabled {
		return s, errf("mode", "unknown mode %d", uint8(s.Mode))
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

// RecordBytes is the size of one key's record under s (normalized): a
// 40-byte header and the window (doc.go, "Memory").
func (s Settings) RecordBytes() int {
	sh := shapeOf(&s)
	return hdrLen + sh.size
}
