package timeout

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Errors of the header parsers.
var (
	ErrGRPCTimeout = errors.New("timeout: invalid grpc-timeout")
	ErrExpectedMs  = errors.New("timeout: invalid x-envoy-expected-rq-timeout-ms")
)

// MaxDuration is what an overflowing header value is clamped to.
const MaxDuration = time.Duration(math.MaxInt64)

// ParseGRPCTimeout parses a grpc-timeout header value: 1 to 8 ASCII digits
// followed by one unit, H (hours), M (minutes), S (seconds), m
// (milliseconds), u (microseconds) or n (nanoseconds), as the gRPC over
// HTTP/2 specification defines it. Nothing else is accepted (no sign, no
// space, no fraction). A value beyond time.Duration's range (e.g.
// "99999999H", about 11,400 years) is clamped to MaxDuration. "0n" (any
// zero) parses to 0: by the gRPC specification that deadline has already
// passed.
func ParseGRPCTimeout(s string) (time.Duration, error) {
	d, ok := GRPCTimeout(s)
	if !ok {
		if len(s) < 2 || len(s) > 9 {
			return 0, fmt.Errorf("%w: %q: want 1 to 8 digits and a unit", ErrGRPCTimeout, s)
		}
		if grpcUnit(s[len(s)-1]) == 0 {
			return 0, fmt.Errorf("%w: %q: unit must be one of H M S m u n", ErrGRPCTimeout, s)
		}
		return 0, fmt.Errorf("%w: %q: want 1 to 8 digits and a unit", ErrGRPCTimeout, s)
	}
	return d, nil
}

// GRPCTimeout is ParseGRPCTimeout without the error: ok is false for a
// value it rejects. It allocates nothing (the filter's per-request path).
func GRPCTimeout(s string) (time.Duration, bool) {
	if len(s) < 2 || len(s) > 9 {
		return 0, false
	}
	unit := grpcUnit(s[len(s)-1])
	if unit == 0 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s)-1; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0') // at most 8 digits: no overflow
	}
	if v > int64(MaxDuration/unit) {
		return MaxDuration, true
	}
	return time.Duration(v) * unit, true
}

// grpcUnit is the duration of a grpc-timeout unit, 0 for another byte.
func grpcUnit(c byte) time.Duration {
	switch c {
	case 'H':
		return time.Hour
	case 'M':
		return time.Minute
	case 'S':
		return time.Second
	case 'm':
		return time.Millisecond
	case 'u':
		return time.Microsecond
	case 'n':
		return time.Nanosecond
	}
	return 0
}

// ParseExpectedMs parses an x-envoy-expected-rq-timeout-ms header value: a
// non-negative decimal integer of milliseconds (ASCII digits; surrounding
// spaces and tabs are ignored, as Envoy's integer parsing does). A value
// beyond time.Duration's range is clamped to MaxDuration.
func ParseExpectedMs(s string) (time.Duration, error) {
	d, ok := ExpectedMs(s)
	if !ok {
		if strings.Trim(s, " \t") == "" {
			return 0, fmt.Errorf("%w: %q: empty", ErrExpectedMs, s)
		}
		return 0, fmt.Errorf("%w: %q: want a non-negative integer", ErrExpectedMs, s)
	}
	return d, nil
}

// ExpectedMs is ParseExpectedMs without the error: ok is false for a value
// it rejects. It allocates nothing (the filter's per-request path).
func ExpectedMs(s string) (time.Duration, bool) {
	t := strings.Trim(s, " \t")
	if t == "" {
		return 0, false
	}
	const limit = int64(MaxDuration / time.Millisecond)
	var v int64
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > limit { // keep scanning for a bad character, but stop growing
			continue
		}
		v = v*10 + int64(c-'0')
	}
	if v > limit {
		return MaxDuration, true
	}
	return time.Duration(v) * time.Millisecond, true
}

// Remaining is what is left at now of a caller's budget that started when
// the request arrived: budget - (now - arrived), never below 0.
func Remaining(budget time.Duration, arrived, now time.Time) time.Duration {
	el := now.Sub(arrived)
	if el < 0 {
		el = 0
	}
	if budget <= el {
		return 0
	}
	return budget - el
}

// DefaultDeadlineMax is deadline.max's default: Envoy's default route
// timeout. It bounds the timeout a caller's budget can produce when the
// policy sets no timeout of its own.
const DefaultDeadlineMax = 15 * time.Second

// Upstream is the timeout to write upstream: the policy's own timeout
// (configured > 0), else ceiling, lowered to the caller's remaining budget
// when there is one (haveRemaining). A caller only ever shortens: the
// result is never above max(configured, 0) when configured > 0, never
// above ceiling otherwise (ceiling <= 0 means no ceiling, as before), and
// never negative. It is 0 with haveRemaining only when the budget is
// spent (the caller must reject rather than write 0, which disables the
// timeout).
func Upstream(configured, ceiling, remaining time.Duration, haveRemaining bool) time.Duration {
	if configured <= 0 && haveRemaining && ceiling > 0 {
		configured = ceiling
	}
	return Effective(configured, remaining, haveRemaining)
}

// Effective is the timeout to give the upstream request: the configured
// timeout, lowered to the caller's remaining budget when there is one
// (haveRemaining). configured <= 0 means no configured timeout (as in
// Envoy, where 0 disables it): the remaining budget alone applies, and with
// no remaining budget either the result is 0 (no timeout). A negative
// remaining counts as 0. The result is 0 with haveRemaining only when the
// budget is spent: the caller must then reject (deadline_exceeded) rather
// than hand Envoy a 0, which would disable the timeout.
func Effective(configured, remaining time.Duration, haveRemaining bool) time.Duration {
	if !haveRemaining {
		return max(configured, 0)
	}
	remaining = max(remaining, 0)
	if configured <= 0 || remaining < configured {
		return remaining
	}
	return configured
}
