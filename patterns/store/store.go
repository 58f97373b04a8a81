package store

import "errors"

// Errors returned by a Store and by Update.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrCASMismatch = errors.New("store: cas mismatch")
	// ErrContended is returned by Update when every attempt met a conflict.
	ErrContended = errors.New("store: too many cas conflicts")
)

// MaxAttempts bounds the read-compute-write attempts of Update.
const MaxAttempts = 16

// CreateCAS is the CAS Update writes an absent key with. Envoy creates an
// absent key whatever the CAS, but refuses a non-zero CAS that does not match
// an existing key; so writing with CreateCAS creates the key if it is still
// absent and fails with ErrCASMismatch if another worker created it in the
// meantime (then Update reads it and tries again). A key's CAS equals
// CreateCAS only once per 2^32 writes of the whole host, so creation is
// create-if-absent in practice; cas 0 would instead overwrite whatever the
// other workers wrote.
const CreateCAS = 0xFFFFFFFF

// Store is a key/value map with compare-and-swap, the shape of Envoy shared data.
type Store interface {
	// Get returns the value and its CAS, or ErrNotFound. The value is the
	// caller's (a copy): Update's fn may write over it.
	Get(key string) (value []byte, cas uint32, err error)
	// Set writes value if cas is 0 or equals the key's current CAS, else ErrCASMismatch.
	Set(key string, value []byte, cas uint32) error
}

// Update reads key, calls fn with the current value (nil when absent) and writes
// what fn returns with the CAS it read. It retries on ErrCASMismatch, at most
// MaxAttempts times, and returns ErrContended when all attempts conflicted.
// fn may run several times and must derive its result from cur alone; a caller
// that needs fn's decision records it in a variable fn overwrites on each run.
// When fn returns write == false nothing is written and Update returns nil.
// An error from fn is returned as is, without writing.
func Update(s Store, key string, fn func(cur []byte) (next []byte, write bool, err error)) error {
	for range MaxAttempts {
		cur, cas, err := s.Get(key)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotFound):
			cur, cas = nil, CreateCAS
		case err != nil:
			return err
		}
		next, write, err := fn(cur)
		if err != nil || !write {
			return err
		}
		err = s.Set(key, next, cas)
		if err != nil && errors.Is(err, ErrCASMismatch) {
			continue
		}
		return err
	}
	return ErrContended
}
