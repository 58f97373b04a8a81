// Package field is the error a pattern's Settings.Normalize returns for an
// invalid setting: which field (in the plugin configuration's spelling,
// relative to the pattern's block, e.g. "window.size" or "queue.max_wait"),
// which other field it contradicts when two values disagree, and why.
// filter/config turns Name and With into JSON paths; a library user reads
// Error() ("breaker: window.size: must be in [1,10000], got 10001").
//
// Zero value: an Error with every field empty renders ": : "; build one
// with New or Conflict. Errors are immutable values, safe to share.
package field

import "fmt"

// Error is one invalid setting.
type Error struct {
	_ [0]func() // not comparable (errors are *Error): no generated equality in the .wasm
	// Pkg is the package prefix, e.g. "breaker".
	Pkg string
	// Name is the offending field, in configuration spelling, relative to
	// the pattern's block.
	Name string
	// With is the other field of a contradiction between two values (Reason
	// names it), "" when the value is wrong on its own.
	With string
	// Reason says what is wrong, e.g. "must be at least open_duration (1h), got 5m".
	Reason string
	// Kind is the sentinel Unwrap returns (the package's ErrInvalid), or nil.
	Kind error
}

// Error renders "pkg: name: reason".
func (e *Error) Error() string { return e.Pkg + ": " + e.Name + ": " + e.Reason }

// Unwrap returns Kind, so errors.Is(err, pkg.ErrInvalid) holds.
func (e *Error) Unwrap() error { return e.Kind }

// New is an error about one field. Not inlined: a validation error is
// rare, and each inlined copy (the allocation and its stores) costs .wasm
// bytes at every call site.
//
//go:noinline
func New(pkg string, kind error, name, format string, args ...any) *Error {
	return &Error{Pkg: pkg, Name: name, Reason: fmt.Sprintf(format, args...), Kind: kind}
}

// Conflict is an error about field name that contradicts field with; the
// reason must mention with by its name. Not inlined (see New).
//
//go:noinline
func Conflict(pkg string, kind error, name, with, format string, args ...any) *Error {
	return &Error{Pkg: pkg, Name: name, With: with, Reason: fmt.Sprintf(format, args...), Kind: kind}
}
