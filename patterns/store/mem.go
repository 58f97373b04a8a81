package store

import (
	"math/rand/v2"
	"sync"
)

// Mem is an in-memory Store with Envoy's shared-data semantics. It is safe
// for concurrent use. With ConflictRate > 0 a Set whose CAS matches still fails
// with ErrCASMismatch with that probability (and the value is bumped to a new
// CAS, as if another worker had written the same bytes), which exercises the
// retry paths of the callers.
type Mem struct {
	mu   sync.Mutex
	m    map[string]memEntry
	next uint32
	rnd  *rand.Rand

	// ConflictRate is the probability in [0,1) of an injected conflict.
	ConflictRate float64
	// Sets and Gets count the calls, Conflicts the failed Sets (real or injected).
	Sets, Gets, Conflicts int
}

type memEntry struct {
	v   []byte
	cas uint32
}

// NewMem returns an empty store. seed drives the conflict injection.
func NewMem(conflictRate float64, seed uint64) *Mem {
	return &Mem{m: map[string]memEntry{}, ConflictRate: conflictRate, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Get implements Store.
func (s *Mem) Get(key string) ([]byte, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Gets++
	e, ok := s.m[key]
	if !ok {
		return nil, 0, ErrNotFound
	}
	return append([]byte(nil), e.v...), e.cas, nil
}

// Set implements Store.
func (s *Mem) Set(key string, value []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Sets++
	e, ok := s.m[key]
	if ok && cas != 0 {
		if cas != e.cas {
			s.Conflicts++
			return ErrCASMismatch
		}
		if s.ConflictRate > 0 && s.rnd != nil && s.rnd.Float64() < s.ConflictRate {
			s.Conflicts++
			s.next++
			e.cas = s.next
			s.m[key] = e
			return ErrCASMismatch
		}
	}
	s.next++
	if s.next == 0 {
		s.next = 1
	}
	s.m[key] = memEntry{v: append([]byte(nil), value...), cas: s.next}
	return nil
}

// Len returns the number of keys held.
func (s *Mem) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Keys returns the keys held, in no order.
func (s *Mem) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.m))
	for k := range s.m {
		out = append(out, k)
	}
	return out
}
