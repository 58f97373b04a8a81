package fault

import (
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
)

// DefaultAbortStatus is the status of an injected abort when none is given.
const DefaultAbortStatus = 503

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("fault: invalid settings")

// MaxDelay bounds Delay (87600h, 10 years), so that now + Delay never
// overflows.
const MaxDelay = 87600 * time.Hour

// Settings of fault injection. The zero value injects nothing.
type Settings struct {
	// AbortPercent of requests are answered with AbortStatus, in [0,100].
	AbortPercent float64
	// AbortStatus of an aborted request; 0 means DefaultAbortStatus (503),
	// else 200..599.
	AbortStatus int
	// DelayPercent of requests are delayed by Delay, in [0,100].
	DelayPercent float64
	// Delay of a delayed request, at most MaxDelay; must be positive when
	// DelayPercent > 0.
	Delay time.Duration
}

// errf is a *field.Error of the fault settings. Not inlined: each inlined
// copy of the call costs .wasm bytes at every call site of a rare error.
//
//go:noinline
func errf(name, format string, a ...any) error {
	return field.New("fault", ErrInvalid, name, format, a...)
}

// Normalize returns s with defaults applied, or an error wrapping ErrInvalid
// (a *field.Error naming the configuration field: abort.percent,
// abort.status, delay.percent, delay.duration). It is the one place where
// the package's defaults live.
func (s Settings) Normalize() (Settings, error) {
	if math.IsNaN(s.AbortPercent) || s.AbortPercent < 0 || s.AbortPercent > 100 {
		return s, errf("abort.percent", "must be in [0,100], got %v", s.AbortPercent)
	}
	if math.IsNaN(s.DelayPercent) || s.DelayPercent < 0 || s.DelayPercent > 100 {
		return s, errf("delay.percent", "must be in [0,100], got %v", s.DelayPercent)
	}
	if s.AbortStatus == 0 {
		s.AbortStatus = DefaultAbortStatus
	}
	if s.AbortStatus < 200 || s.AbortStatus > 599 {
		return s, errf("abort.status", "must be in [200,599], got %d", s.AbortStatus)
	}
	if s.Delay < 0 || s.Delay > MaxDelay {
		return s, errf("delay.duration", "must be in [0,%v], got %v", MaxDelay, s.Delay)
	}
	if s.DelayPercent > 0 && s.Delay == 0 {
		return s, errf("delay.duration", "must be positive when delay percent is %v", s.DelayPercent)
	}
	return s, nil
}

// Decide draws two numbers from r (see the package documentation) and
// returns whether to abort the request and how long to delay it first (0:
// no delay). s is used as given (call Normalize once at configuration time):
// a percent below 0 or NaN never fires, above 100 always fires. A nil r
// injects nothing.
func Decide(s Settings, r *rand.Rand) (abort bool, delay time.Duration) {
	if r == nil {
		return false, 0
	}
	u1, u2 := r.Float64(), r.Float64()
	abort = u1 < s.AbortPercent/100
	if u2 < s.DelayPercent/100 {
		delay = s.Delay
	}
	return abort, delay
}
