package deadletter

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
)

// Reasons a request is dead-lettered for (dead_letter.on).
const (
	// UpstreamFailure: the final upstream response, after the router's
	// retries, still counts as a failure under failure_on.
	UpstreamFailure = "upstream_failure"
	// CircuitOpen, BulkheadFull, DeadlineExceeded: the filter rejected the
	// request itself for that reason.
	CircuitOpen      = "circuit_open"
	BulkheadFull     = "bulkhead_full"
	DeadlineExceeded = "deadline_exceeded"
)

// Reasons lists the values dead_letter.on accepts, in documentation order.
var Reasons = []string{UpstreamFailure, CircuitOpen, BulkheadFull, DeadlineExceeded}

// Defaults applied by Normalize to zero fields.
const (
	DefaultMaxBodyBytes = 65536
	DefaultTimeout      = 50 * time.Millisecond
)

// DefaultOn, DefaultMethods and DefaultRedactHeaders are the defaults of the
// list fields. Normalize copies them; they are never handed out for change.
var (
	DefaultOn            = []string{UpstreamFailure}
	DefaultMethods       = []string{"POST", "PUT", "PATCH", "DELETE"}
	DefaultRedactHeaders = []string{"authorization", "cookie"}
)

// Bounds enforced by Normalize.
const (
	MaxMaxBodyBytes = 1 << 20 // 1 MiB: a record carries at most this much body
	MinTimeout      = time.Millisecond
	MaxTimeout      = time.Minute
	MaxListLen      = 64  // methods and redact_headers
	MaxNameLen      = 256 // cluster, header names
	MaxMethodLen    = 32
)

// Settings configure dead letters for one policy (the dead_letter block).
// The zero value of every field means its default; Normalize applies the
// defaults and checks the bounds. Only Cluster is required.
type Settings struct {
	// Cluster receives the records (one HTTP POST each). Required: 1 to
	// MaxNameLen bytes, no control characters.
	Cluster string
	// On lists the reasons that make a record (Reasons). nil: [upstream_failure].
	// An explicit list must be non-empty, without duplicates.
	On []string
	// Methods are the request methods recorded, upper-cased by Normalize.
	// nil: POST PUT PATCH DELETE. An explicit list must be non-empty, RFC
	// 9110 tokens of at most MaxMethodLen bytes, without duplicates, at most
	// MaxListLen entries.
	Methods []string
	// MaxBodyBytes: a request body longer than this is recorded without its
	// body and marked truncated. 0: DefaultMaxBodyBytes (64 KiB); at most
	// MaxMaxBodyBytes.
	MaxBodyBytes int
	// RedactHeaders are the request header names whose values are replaced
	// by RedactedValue in a record, lower-cased by Normalize. nil:
	// authorization, cookie. An explicit empty (non-nil) list redacts
	// nothing. At most MaxListLen names, no duplicates.
	RedactHeaders []string
	// Timeout of the call to Cluster. 0: DefaultTimeout (50ms); in
	// [MinTimeout, MaxTimeout].
	Timeout time.Duration
}

// ErrInvalid is wrapped by every error Normalize returns (a *field.Error
// naming the dead_letter field at fault).
var ErrInvalid = errors.New("deadletter: invalid settings")

// invalid is a *field.Error of the dead letter settings. Not inlined: each inlined
// copy of the call costs .wasm bytes at every call site of a rare error.
//
//go:noinline
func invalid(name, format string, a ...any) error {
	return field.New("deadletter", ErrInvalid, name, format, a...)
}

func errf(format string, a ...any) error {
	return errors.New("deadletter: " + fmt.Sprintf(format, a...))
}

// Normalize returns s with the defaults applied to its zero fields, or a
// *field.Error (wrapping ErrInvalid, rendered "deadletter: FIELD: reason")
// naming the dead_letter field at fault.
// It is the one place where defaults are decided; it is idempotent and
// never shares its slices with s or with the defaults.
func (s Settings) Normalize() (Settings, error) {
	switch {
	case s.Cluster == "":
		return s, invalid("cluster", "required")
	case len(s.Cluster) > MaxNameLen:
		return s, invalid("cluster", "must be at most %d bytes, got %d", MaxNameLen, len(s.Cluster))
	case hasControl(s.Cluster):
		return s, invalid("cluster", "must not contain control characters, got %q", s.Cluster)
	}
	if s.On == nil {
		s.On = slices.Clone(DefaultOn)
	} else {
		if len(s.On) == 0 {
			return s, invalid("on", "must not be empty")
		}
		on := make([]string, 0, len(s.On))
		for i, r := range s.On {
			if !slices.Contains(Reasons, r) {
				return s, invalid(index("on", i), "must be one of %s, got %q", strings.Join(Reasons, ", "), r)
			}
			if slices.Contains(on, r) {
				return s, invalid(index("on", i), "duplicate reason %s", r)
			}
			on = append(on, r)
		}
		s.On = on
	}
	if s.Methods == nil {
		s.Methods = slices.Clone(DefaultMethods)
	} else {
		if len(s.Methods) == 0 {
			return s, invalid("methods", "must not be empty")
		}
		if len(s.Methods) > MaxListLen {
			return s, invalid("methods", "at most %d methods, got %d", MaxListLen, len(s.Methods))
		}
		ms := make([]string, 0, len(s.Methods))
		for i, m := range s.Methods {
			if !field.IsToken(m) || len(m) > MaxMethodLen {
				return s, invalid(index("methods", i), "must be an HTTP method, got %q", m)
			}
			m = strings.ToUpper(m)
			if slices.Contains(ms, m) {
				return s, invalid(index("methods", i), "duplicate method %q", m)
			}
			ms = append(ms, m)
		}
		s.Methods = ms
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxBodyBytes < 1 || s.MaxBodyBytes > MaxMaxBodyBytes {
		return s, invalid("max_body_bytes", "must be in [1,%d], got %d", MaxMaxBodyBytes, s.MaxBodyBytes)
	}
	if s.RedactHeaders == nil {
		s.RedactHeaders = slices.Clone(DefaultRedactHeaders)
	} else {
		if len(s.RedactHeaders) > MaxListLen {
			return s, invalid("redact_headers", "at most %d names, got %d", MaxListLen, len(s.RedactHeaders))
		}
		hs := make([]string, 0, len(s.RedactHeaders))
		for i, h := range s.RedactHeaders {
			if !field.IsToken(h) || len(h) > MaxNameLen {
				return s, invalid(index("redact_headers", i), "must be a header name (an RFC 9110 token, at most %d bytes), got %q", MaxNameLen, h)
			}
			h = strings.ToLower(h)
			if slices.Contains(hs, h) {
				return s, invalid(index("redact_headers", i), "duplicate header %q (names are case-insensitive)", h)
			}
			hs = append(hs, h)
		}
		s.RedactHeaders = hs
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Timeout < MinTimeout || s.Timeout > MaxTimeout {
		return s, invalid("timeout", "must be in [%v,%v], got %v", MinTimeout, MaxTimeout, s.Timeout)
	}
	return s, nil
}

// Covers says whether reason is in On.
func (s *Settings) Covers(reason string) bool { return slices.Contains(s.On, reason) }

// Records says whether requests with this method are recorded (method as
// the request carries it; compared case-insensitively with Methods).
// Methods are upper case after Normalize, as request methods almost always
// are: the exact comparison comes first, case folding only for a method with
// a lower-case letter.
func (s *Settings) Records(method string) bool {
	for _, m := range s.Methods {
		if m == method {
			return true
		}
	}
	if !hasLower(method) {
		return false
	}
	for _, m := range s.Methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

func hasLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return true
		}
	}
	return false
}

// Redacts says whether the value of header name is replaced in a record
// (compared case-insensitively).
func (s *Settings) Redacts(name string) bool {
	for _, h := range s.RedactHeaders {
		if len(h) == len(name) && (h == name || strings.EqualFold(h, name)) {
			return true
		}
	}
	return false
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// index names element i of a list field: "on[2]".
func index(name string, i int) string { return name + "[" + strconv.Itoa(i) + "]" }
