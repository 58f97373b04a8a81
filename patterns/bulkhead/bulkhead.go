package bulkhead

import (
	"errors"
	"fmt"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
	"github.com/breakwater/breakwater/patterns/store"
)

// DefaultLeaseTTL is the lease lifetime when Settings.LeaseTTL is zero.
const DefaultLeaseTTL = 60 * time.Second

// MaxStateBytes bounds the encoded record of one key (the limit of a
// store.Table state); Normalize refuses settings whose full record would
// exceed it.
const MaxStateBytes = 0xffff

// Errors of the package.
var (
	// ErrInvalid is wrapped by every error Normalize returns.
	ErrInvalid = errors.New("bulkhead: invalid settings")
	// ErrLeaseLost is returned by Renew when the lease is no longer held
	// (released, or expired: past its expiry it counts as free).
	ErrLeaseLost = errors.New("bulkhead: lease lost")
	// ErrNotQueued is returned by TryAdmitQueued when the waiter is not in
	// the queue (never enqueued, dequeued, expired or dropped for a missed
	// heartbeat). The request is to be rejected as bulkhead_full.
	ErrNotQueued = errors.New("bulkhead: waiter not in queue")
)

// MaxDuration bounds LeaseTTL, MaxWait and WaiterTTL (87600h, 10 years), so
// that an expiry (now + LeaseTTL in Unix nanoseconds) never overflows.
const MaxDuration = 87600 * time.Hour

// Settings of a bulkhead. See the package documentation for the zero value.
type Settings struct {
	// MaxConcurrent permits per key across all workers; required, >= 1.
	MaxConcurrent int
	// QueueSize is the number of waiters a key can hold; 0 = no queue.
	QueueSize int
	// MaxWait is how long a waiter may stay queued; required (> 0) when
	// QueueSize > 0, ignored otherwise. At most MaxDuration.
	MaxWait time.Duration
	// LeaseTTL is how long a permit lives without a renewal; 0 = 60s, at
	// most MaxDuration.
	LeaseTTL time.Duration
	// WaiterTTL drops a waiter not seen (Enqueue or TryAdmitQueued) for that
	// long; derived default: 0, or anything above MaxWait, = MaxWait (then
	// only MaxWait applies).
	WaiterTTL time.Duration
}

// errf is a *field.Error of the bulkhead settings. Not inlined: each inlined
// copy of the call costs .wasm bytes at every call site of a rare error.
//
//go:noinline
func errf(name, format string, a ...any) error {
	return field.New("bulkhead", ErrInvalid, name, format, a...)
}

// Normalize returns s with defaults applied, or an error wrapping ErrInvalid
// (a *field.Error naming the configuration field: max_concurrent,
// queue.max_size, queue.max_wait, lease_ttl). It is the one place where the
// package's defaults and cross-field rules live.
func (s Settings) Normalize() (Settings, error) {
	if s.MaxConcurrent < 1 {
		return s, errf("max_concurrent", "must be positive, got %d", s.MaxConcurrent)
	}
	if s.QueueSize < 0 {
		return s, errf("queue.max_size", "must not be negative, got %d", s.QueueSize)
	}
	if s.LeaseTTL < 0 || s.LeaseTTL > MaxDuration {
		return s, errf("lease_ttl", "must be in [0,%v], got %v", MaxDuration, s.LeaseTTL)
	}
	if s.LeaseTTL == 0 {
		s.LeaseTTL = DefaultLeaseTTL
	}
	if s.MaxWait < 0 || s.MaxWait > MaxDuration {
		return s, errf("queue.max_wait", "must be in [0,%v], got %v", MaxDuration, s.MaxWait)
	}
	if s.WaiterTTL < 0 {
		return s, errf("waiter_ttl", "must not be negative, got %v", s.WaiterTTL)
	}
	if s.QueueSize == 0 {
		s.MaxWait, s.WaiterTTL = 0, 0
	} else {
		if s.MaxWait == 0 {
			return s, errf("queue.max_wait", "must be positive with a queue")
		}
		if s.WaiterTTL == 0 || s.WaiterTTL > s.MaxWait {
			s.WaiterTTL = s.MaxWait
		}
	}
	// Both counts are capped first, so the size below cannot overflow (a
	// capped count is reported as "more than" the limit).
	mc, qs := min(s.MaxConcurrent, MaxStateBytes+1), min(s.QueueSize, MaxStateBytes+1)
	if n := headerLen + leaseLen*mc + waiterLen*qs; n > MaxStateBytes {
		need := fmt.Sprintf("%d bytes", n)
		if mc != s.MaxConcurrent || qs != s.QueueSize {
			need = fmt.Sprintf("more than %d bytes", MaxStateBytes)
		}
		if s.QueueSize == 0 {
			return s, errf("max_concurrent", "%d needs %s of shared state (%d × max_concurrent + %d), at most %d: at most %d without a queue",
				s.MaxConcurrent, need, leaseLen, headerLen, MaxStateBytes, (MaxStateBytes-headerLen)/leaseLen)
		}
		return s, field.Conflict("bulkhead", ErrInvalid, "max_concurrent", "queue.max_size",
			"%d with queue.max_size %d needs %s of shared state (%d × max_concurrent + %d × queue.max_size + %d), at most %d",
			s.MaxConcurrent, s.QueueSize, need, leaseLen, waiterLen, headerLen, MaxStateBytes)
	}
	return s, nil
}

// Lease identifies an acquired permit. The caller keeps it for the life of
// the stream and hands it back to Release (and Renew).
type Lease struct {
	// Holder is the caller's random 64-bit id of the request.
	Holder uint64
	// Expires is when the permit is reclaimed unless renewed.
	Expires time.Time
}

// Bulkhead caps the concurrency of each key across every worker sharing the
// store. It holds no state of its own (only its settings) and is safe for
// concurrent use, unless ReuseBuffer gave it a buffer.
type Bulkhead struct {
	s     Settings
	err   error
	table store.Table
	// observe, when set, receives the counts of the record each successful
	// operation left (see Observe).
	observe func(key string, active, queued int)
}

// ReuseBuffer makes Acquire, Release and Renew build the value they write
// in one buffer kept between calls (store.Table.WithBuffer) instead of
// a new one per call. b is then for one caller at a time (one worker), and
// its store's Set must copy the value it is given (Envoy's shared data
// does). Call it before use.
func (b *Bulkhead) ReuseBuffer() { b.table = b.table.WithBuffer(new([]byte)) }

// Observe registers f to receive, after every successful Acquire, Release,
// Renew, Enqueue, TryAdmitQueued and Dequeue, the live leases and waiters
// of the key as that operation read or wrote them: an exact value of the
// shared record at one instant, for gauges. Register it before use; f must
// be safe for the callers' concurrency.
func (b *Bulkhead) Observe(f func(key string, active, queued int)) { b.observe = f }

// New returns a bulkhead keeping the state of at most maxKeys keys (see
// store.Table) under prefix. s is normalized here; if it is invalid, every
// method returns the Normalize error (see Err).
func New(prefix string, maxKeys int, s Settings) *Bulkhead {
	ns, err := s.Normalize()
	b := &Bulkhead{s: ns, err: err, table: store.NewTable(prefix, maxKeys)}
	b.table = b.table.WithIdle(idler{b})
	return b
}

// SetHashKey makes the bulkhead hash its keys under k (see store.HashKey).
// Call it before use.
func (b *Bulkhead) SetHashKey(k store.HashKey) { b.table = b.table.WithHashKey(k) }

// Table returns the table holding the records (its capacity bounds memory).
func (b *Bulkhead) Table() store.Table { return b.table }

// idler is the Bulkhead's store.Idler (see doc.go, "Idle").
type idler struct{ b *Bulkhead }

// Idle says whether a record may be replaced by another key: no unexpired
// lease and no live waiter at now.
func (i idler) Idle(state []byte, _, now int64) bool {
	r := decode(state)
	r.prune(now, i.b.s)
	return len(r.leases) == 0 && len(r.waiters) == 0
}

// Err is the error of the settings given to New, nil when they are valid.
func (b *Bulkhead) Err() error { return b.err }

// Settings returns the normalized settings.
func (b *Bulkhead) Settings() Settings { return b.s }

func (b *Bulkhead) update(st store.Store, key string, now time.Time, fn func(r *record) (write bool, err error)) error {
	_, err := b.updateWhere(st, key, now, false, fn)
	return err
}

// updateWhere applies fn to the record of key (or, with overflow, to the
// overflow record) and says whether it was the overflow record.
func (b *Bulkhead) updateWhere(st store.Store, key string, now time.Time, overflow bool, fn func(r *record) (write bool, err error)) (bool, error) {
	if b.err != nil {
		return false, b.err
	}
	var active, queued int
	apply := func(cur []byte) ([]byte, bool, error) {
		r := decode(cur)
		r.prune(now.UnixNano(), b.s)
		write, err := fn(&r)
		active, queued = len(r.leases), len(r.waiters)
		if err != nil || !write {
			return nil, false, err
		}
		return r.encode(), true, nil
	}
	var (
		over bool
		err  error
	)
	if overflow {
		over, err = true, b.table.UpdateOverflow(st, apply)
	} else {
		over, err = b.table.UpdateWhere(st, key, now.UnixNano(), apply)
	}
	if err == nil && b.observe != nil {
		b.observe(key, active, queued)
	}
	return over, err
}

// updateHeld is update for an operation on a holder or waiter that an
// earlier call placed (Release, Renew, TryAdmitQueued, Dequeue): fn says
// whether it found it; when the key's own record did not hold it, the
// overflow record is tried (the earlier call may have overflowed, the key
// having found room in its set since).
func (b *Bulkhead) updateHeld(st store.Store, key string, now time.Time, fn func(r *record) (found, write bool, err error)) error {
	found := false
	f := func(r *record) (bool, error) {
		var write bool
		var err error
		found, write, err = fn(r)
		return write, err
	}
	over, err := b.updateWhere(st, key, now, false, f)
	if err != nil || found || over {
		return err
	}
	_, err = b.updateWhere(st, key, now, true, f)
	return err
}

func (b *Bulkhead) read(st store.Store, key string, now time.Time) (record, error) {
	if b.err != nil {
		return record{}, b.err
	}
	cur, err := b.table.Get(st, key, now.UnixNano())
	if err != nil {
		return record{}, err
	}
	r := decode(cur)
	r.prune(now.UnixNano(), b.s)
	return r, nil
}

// Acquire takes a permit for holder if one is free. A permit is free when
// fewer than MaxConcurrent unexpired leases are held and no live waiter is
// queued for it: live leases + live waiters < MaxConcurrent (a new arrival
// never overtakes the queue). Acquire by a holder that already holds a live
// lease renews and returns that lease (so a retried call cannot take two).
// ok is false when the bulkhead is full; nothing is written then. An error
// (store.ErrContended, a store failure) means nothing was acquired.
func (b *Bulkhead) Acquire(st store.Store, key string, holder uint64, now time.Time) (Lease, bool, error) {
	exp := now.Add(b.s.LeaseTTL)
	ok, err := b.edit(st, key, acquireOp, holder, now, exp)
	if err != nil || !ok {
		return Lease{}, false, err
	}
	return Lease{Holder: holder, Expires: exp}, true, nil
}

// edit applies editBytes (op) to the record of key; for Release and Renew,
// when the key's own record does not hold the lease, to the overflow
// record too (as updateHeld: an earlier Acquire may have overflowed). ok is
// editBytes's, of the record that decided.
func (b *Bulkhead) edit(st store.Store, key string, op int, holder uint64, now, exp time.Time) (bool, error) {
	if b.err != nil {
		return false, b.err
	}
	var ok bool
	var active, queued int
	at, until := now.UnixNano(), exp.UnixNano()
	fn := func(dst, cur []byte) ([]byte, bool, error) {
		next, got, write, a, q := editBytes(dst, cur, op, holder, at, until, b.s)
		ok, active, queued = got, a, q
		return next, write, nil
	}
	over, err := b.table.UpdateAppend(st, key, at, 0, fn)
	if err == nil && b.observe != nil {
		b.observe(key, active, queued)
	}
	if err != nil || ok || over || op == acquireOp {
		return ok, err
	}
	if err := b.table.UpdateOverflow(st, func(cur []byte) ([]byte, bool, error) { return fn(nil, cur) }); err != nil {
		return false, err
	}
	if b.observe != nil {
		b.observe(key, active, queued)
	}
	return ok, nil
}

// Release gives the permit of l back. It returns true when the lease was
// still held (this call freed it) and false when it was not: already
// released, or expired (an expired lease counts as free and may have been
// taken by someone else). A second Release of the same lease is therefore a
// no-op returning false. On error nothing was released; the lease is then
// reclaimed at its expiry at the latest.
func (b *Bulkhead) Release(st store.Store, key string, l Lease, now time.Time) (bool, error) {
	return b.edit(st, key, releaseOp, l.Holder, now, time.Time{})
}

// Renew extends a held lease to now + LeaseTTL. Holders of long streams
// renew well within LeaseTTL (e.g. from the tick) so that a live stream is
// never reclaimed. It returns ErrLeaseLost when the lease is no longer held.
func (b *Bulkhead) Renew(st store.Store, key string, l Lease, now time.Time) error {
	held, err := b.edit(st, key, renewOp, l.Holder, now, now.Add(b.s.LeaseTTL))
	if err == nil && !held {
		err = ErrLeaseLost
	}
	return err
}

// Active returns the number of live (unexpired) leases of key at now.
func (b *Bulkhead) Active(st store.Store, key string, now time.Time) (int, error) {
	r, err := b.read(st, key, now)
	return len(r.leases), err
}

// Queued returns the number of live waiters of key at now.
func (b *Bulkhead) Queued(st store.Store, key string, now time.Time) (int, error) {
	r, err := b.read(st, key, now)
	return len(r.waiters), err
}

// Counts returns both gauges, live leases and live waiters of key at now,
// in one read.
func (b *Bulkhead) Counts(st store.Store, key string, now time.Time) (active, queued int, err error) {
	r, err := b.read(st, key, now)
	return len(r.leases), len(r.waiters), err
}

// Enqueue appends waiter to the FIFO queue of key and returns its position
// (0 = head). ok is false when the queue is full (or there is no queue):
// the request is to be rejected as bulkhead_full. Enqueue of a waiter
// already queued refreshes its heartbeat and returns its position. The
// caller then polls TryAdmitQueued (right away, then from each tick).
func (b *Bulkhead) Enqueue(st store.Store, key string, waiter uint64, now time.Time) (int, bool, error) {
	var pos int
	var ok bool
	err := b.update(st, key, now, func(r *record) (bool, error) {
		pos, ok = 0, false
		if i := r.findWaiter(waiter); i >= 0 {
			r.waiters[i].seen = now.UnixNano()
			pos, ok = i, true
			return true, nil
		}
		if len(r.waiters) >= b.s.QueueSize {
			return false, nil
		}
		r.waiters = append(r.waiters, waiterRec{id: waiter, enq: now.UnixNano(), seen: now.UnixNano()})
		pos, ok = len(r.waiters)-1, true
		return true, nil
	})
	if err != nil {
		return 0, false, err
	}
	return pos, ok, nil
}

// TryAdmitQueued admits waiter if a permit is free for it: the waiters
// ahead of it each still leave a permit (live leases + waiters ahead <
// MaxConcurrent; for the head that is simply "a permit is free"). Admission
// removes the waiter from the queue and returns its lease (Holder = waiter).
// Not admitted, the call refreshes the waiter's heartbeat and returns false.
// Expired waiters (queued MaxWait ago, or not seen for WaiterTTL) are
// dropped first; a waiter not in the queue gets ErrNotQueued.
func (b *Bulkhead) TryAdmitQueued(st store.Store, key string, waiter uint64, now time.Time) (Lease, bool, error) {
	var ok, absent bool
	exp := now.Add(b.s.LeaseTTL)
	err := b.updateHeld(st, key, now, func(r *record) (bool, bool, error) {
		ok, absent = false, false
		i := r.findWaiter(waiter)
		if i < 0 {
			absent = true
			return false, false, nil
		}
		if len(r.leases)+i >= b.s.MaxConcurrent {
			if b.s.WaiterTTL < b.s.MaxWait {
				r.waiters[i].seen = now.UnixNano()
				return true, true, nil
			}
			return true, false, nil // the heartbeat plays no part: no write
		}
		r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
		if j := r.findLease(waiter); j >= 0 {
			r.leases[j].expiry = exp.UnixNano()
		} else {
			r.leases = append(r.leases, lease{holder: waiter, expiry: exp.UnixNano()})
		}
		ok = true
		return true, true, nil
	})
	switch {
	case err != nil:
		return Lease{}, false, err
	case absent:
		return Lease{}, false, ErrNotQueued
	case !ok:
		return Lease{}, false, nil
	}
	return Lease{Holder: waiter, Expires: exp}, true, nil
}

// Dequeue removes waiter from the queue (it gave up: wait expired, stream
// reset). Removing an absent waiter is a no-op.
func (b *Bulkhead) Dequeue(st store.Store, key string, waiter uint64, now time.Time) error {
	return b.updateHeld(st, key, now, func(r *record) (bool, bool, error) {
		i := r.findWaiter(waiter)
		if i < 0 {
			return false, false, nil
		}
		r.waiters = append(r.waiters[:i], r.waiters[i+1:]...)
		return true, true, nil
	})
}
