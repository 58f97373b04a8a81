package fault

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// DefaultAbortStatus is the status of an injected abort when none is given.
const DefaultAbortStatus = 503

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("fault: invalid settings")

// Settings of fault injection. The zero value injects nothing.
type Settings struct {
	// AbortPercent of requests are answered with AbortStatus, in [0,100].
	AbortPercent float64
	// AbortStatus of an aborted request; 0 means DefaultAbortStatus (503).
	AbortStatus int
	// DelayPercent of requests are delayed by Delay, in [0,100].
	DelayPercent float64
	// Delay of a delayed request; must be positive when DelayPercent > 0.
	Delay time.Duration
}

// Normalize returns s with defaults applied, or an error naming the field.
// It is the one place where the package's defaults live.
func (s Settings) Normalize() (Settings, error) {
	if math.IsNaN(s.AbortPercent) || s.AbortPercent < 0 || s.AbortPercent > 100 {
		return s, fmt.Errorf("%w: abort percent must be in [0,100], got %v", ErrInvalid, s.AbortPercent)
	}
	if math.IsNaN(s.DelayPercent) || s.DelayPercent < 0 || s.DelayPercent > 100 {
		return s, fmt.Errorf("%w: delay percent must be in [0,100], got %v", ErrInvalid, s.DelayPercent)
	}
	if s.AbortStatus == 0 {
		s.AbortStatus = DefaultAbortStatus
	}
	if s.AbortStatus < 200 || s.AbortStatus > 599 {
		return s, fmt.Errorf("%w: abort status must be in 200..599, got %d", ErrInvalid, s.AbortStatus)
	}
	if s.Delay < 0 {
		return s, fmt.Errorf("%w: delay must not be negative, got %v", ErrInvalid, s.Delay)
	}
	if s.DelayPercent > 0 && s.Delay == 0 {
		return s, fmt.Errorf("%w: delay must be positive when delay percent is %v", ErrInvalid, s.DelayPercent)
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
