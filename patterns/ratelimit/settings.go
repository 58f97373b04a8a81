package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
)

// Algorithm names an admission rule. The zero value is TokenBucket.
type Algorithm uint8

// The algorithms of the rate_limit block (docs/configuration.md).
const (
	TokenBucket Algorithm = iota
	GCRA
	FixedWindow
	SlidingWindow
	LeakyBucket
	numAlgorithms
)

var algorithmNames = [numAlgorithms]string{"token_bucket", "gcra", "fixed_window", "sliding_window", "leaky_bucket"}

// String returns the configuration name of a, e.g. "token_bucket".
func (a Algorithm) String() string {
	if a < numAlgorithms {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Algorithms lists every algorithm, in the order of their values.
func Algorithms() []Algorithm {
	out := make([]Algorithm, numAlgorithms)
	for i := range out {
		out[i] = Algorithm(i)
	}
	return out
}

// ParseAlgorithm maps a configuration name ("token_bucket", "gcra",
// "fixed_window", "sliding_window", "leaky_bucket") to its Algorithm. Any
// other string, the empty one included, is an error.
func ParseAlgorithm(name string) (Algorithm, error) {
	for i, n := range algorithmNames {
		if n == name {
			return Algorithm(i), nil
		}
	}
	return 0, fmt.Errorf("ratelimit: unknown algorithm %q", name)
}

// Never is the RetryAfter of a request that can never pass (n above the
// capacity of the limit).
const Never = time.Duration(math.MaxInt64)

// Limits of the parameters. MaxSpan (2^60 ns, about 36.5 years) bounds Per,
// MaxDelay and the time to refill a full bucket (Burst×Per/Requests);
// MaxCount (2^62) bounds Requests and Burst. Together they keep every
// computation on int64 nanoseconds free of overflow.
const (
	MaxSpan  = time.Duration(1 << 60)
	MaxCount = int64(1 << 62)
)

// ErrInvalid is wrapped by every error Normalize returns (a *field.Error
// naming the configuration field: requests, per, burst, max_delay).
var ErrInvalid = errors.New("ratelimit: invalid settings")

func errf(name, format string, a ...any) error {
	return field.New("ratelimit", ErrInvalid, name, format, a...)
}

// Settings are the parameters of one limit (of one tier of a limit).
//
// Zero values: Algorithm 0 is TokenBucket; Burst 0 means Requests (the
// derived default: a bucket as large as one Per of requests) for the bucket
// algorithms (token_bucket, gcra, leaky_bucket); the window algorithms
// (fixed_window, sliding_window), whose capacity is Requests, accept only 0
// or Requests itself, and Normalize sets their Burst to Requests. MaxDelay 0
// means no shaping delay (a leaky_bucket then only polices, like gcra) and
// is the only value allowed for the other algorithms. Requests and Per have
// no default: both must be positive. Normalize applies these rules.
type Settings struct {
	Algorithm Algorithm
	// Requests per Per: the rate (bucket algorithms) or the count allowed in
	// a window (window algorithms). In [1, MaxCount].
	Requests int64
	// Per in (0, MaxSpan].
	Per time.Duration
	// Burst is the capacity of the bucket algorithms; 0 => Requests. In
	// [0, MaxCount], and Burst×Per/Requests (the time to refill a full
	// bucket) at most MaxSpan.
	Burst int64
	// MaxDelay is the longest a leaky_bucket delays a request (leaky only),
	// in [0, MaxSpan].
	MaxDelay time.Duration
}

// Normalize returns s with its defaults applied, or an error naming the first
// invalid field ("ratelimit: FIELD: reason", a *field.Error). It is the one
// place where defaults and validation live; Normalize of a normalized
// Settings returns it unchanged.
func (s Settings) Normalize() (Settings, error) {
	if s.Algorithm >= numAlgorithms {
		return s, errf("algorithm", "unknown algorithm %d", uint8(s.Algorithm))
	}
	if s.Requests <= 0 || s.Requests > MaxCount {
		return s, errf("requests", "must be in [1,%d], got %d", MaxCount, s.Requests)
	}
	if s.Per <= 0 || s.Per > MaxSpan {
		return s, errf("per", "must be in (0,%s], got %s", MaxSpan, s.Per)
	}
	if s.Burst < 0 || s.Burst > MaxCount {
		return s, errf("burst", "must be in [1,%d], got %d", MaxCount, s.Burst)
	}
	if s.MaxDelay < 0 || s.MaxDelay > MaxSpan {
		return s, errf("max_delay", "must be in [0,%s], got %s", MaxSpan, s.MaxDelay)
	}
	switch s.Algorithm {
	case FixedWindow, SlidingWindow:
		if s.Burst != 0 && s.Burst != s.Requests {
			return s, errf("burst", "does not apply to %s (its capacity is requests), got %d", s.Algorithm, s.Burst)
		}
	}
	if s.Burst == 0 {
		s.Burst = s.Requests
	}
	if s.MaxDelay != 0 && s.Algorithm != LeakyBucket {
		return s, errf("max_delay", "applies to leaky_bucket only, not %s", s.Algorithm)
	}
	// Burst×Per/Requests <= MaxSpan  <=>  Burst×Per <= MaxSpan×Requests.
	ahi, alo := bits.Mul64(uint64(s.Burst), uint64(s.Per))
	bhi, blo := bits.Mul64(uint64(MaxSpan), uint64(s.Requests))
	if ahi > bhi || ahi == bhi && alo > blo {
		return s, field.Conflict("ratelimit", ErrInvalid, "burst", "",
			"%d with requests %d per %s takes more than %s to refill (burst × per / requests)", s.Burst, s.Requests, s.Per, MaxSpan)
	}
	return s, nil
}
