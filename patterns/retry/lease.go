package retry

import (
	"math/bits"
	"time"

	"github.com/breakwater/breakwater/patterns/store"
)

// Lease sizing (see doc.go, "Leases"): a lease takes
// min(floor(available / LeaseShare), MaxLease) grants beyond the request's
// own, where available is what the shared budget still allows once the
// lease's update has applied everything else.
const (
	LeaseShare = 16
	MaxLease   = 64
)

// Lease is one worker's view of a Budget that spares the store round trip
// on most requests: requests are counted locally (deposits) and written
// with the worker's next update; retries are handed out of grants the
// worker took from the shared budget beforehand (its pool), which the
// budget already counts as retries. Tick writes the deposits and the
// deferred refunds, gives the unused pool back and, when the worker handed
// out grants since the last tick, takes a new pool: one store update per
// tick. A Lease belongs to one worker (it is not safe for concurrent use);
// the workers of a budget share only the store.
type Lease struct {
	_ [0]func() // not comparable: the binary needs no equality function
	b *Budget
	// deposits are the requests counted here and not written yet, refunds
	// the unused grants to give back, both by epoch.
	deposits, refunds Pending
	// pool grants of epoch poolEpoch are reserved in the store and not
	// handed out; poolCap bounds the pool (the extra grants of its lease;
	// 0 while the budget is too low to lease: every grant is a round trip).
	pool, poolCap int
	poolEpoch     int64
	// handed counts the grants handed out since the last Tick; dirty says
	// deposits or refunds wait for the next update.
	handed int
	dirty  bool
}

// NewLease returns an empty lease of b.
func NewLease(b *Budget) *Lease { return &Lease{b: b} }

// Held is how many grants the worker holds reserved and not handed out.
func (l *Lease) Held() int { return l.pool }

// Request counts one request at now and grants it up to n retries (0..n),
// as Budget.RequestRetries would: from the pool when it holds n grants of
// now's epoch (the request is then counted with the next update), else in
// one store update that also writes the deposits and refunds waiting, gives
// the pool back and takes a new one. On error nothing was granted and the
// request is counted with the next update.
func (l *Lease) Request(st store.Store, now time.Time, n int) (int, error) {
	if l.Take(now, n) {
		return max(n, 0), nil
	}
	g, err := l.write(st, now, n, 0, true)
	if err != nil {
		l.Take(now, 0) // nothing granted; the request is counted with the next update
		return 0, err
	}
	l.handed += g
	return g, nil
}

// Take is Request's case without a store update, for a caller to try
// first: when n <= 0, or the pool holds n grants of now's epoch, the
// request is counted with the next update and given max(n, 0) grants from
// the pool, as Request would, and Take says true; otherwise nothing was
// done (false) and the caller calls Request.
func (l *Lease) Take(now time.Time, n int) bool {
	e := epochOf(now)
	if n > 0 && (l.pool < n || l.poolEpoch != e) {
		return false
	}
	n = max(n, 0)
	l.pool -= n
	l.handed += n
	l.deposits.addEpoch(e, 1)
	l.dirty = true
	return true
}

// write is the one store update of a lease: it counts the deposits, gives
// back the refunds and the pool, then, for a request (n >= 0), counts it
// and grants up to n retries, charges charge retries (Charge), and with
// again takes a new pool. On success the lease holds only the new pool.
func (l *Lease) write(st store.Store, now time.Time, n, charge int, again bool) (int, error) {
	b := l.b
	if b.err != nil {
		return 0, b.err
	}
	var granted, extra int
	pool, poolEpoch := l.pool, l.poolEpoch
	e := epochOf(now)
	// Budget.update's body, with the lease's changes applied to the
	// decoded window in place (no window copied in and out of a func value).
	err := store.Update(st, b.key, func(cur []byte) ([]byte, bool, error) {
		w := decode(cur)
		w.advance(e)
		l.refunds.apply(&w)
		l.deposits.deposit(&w)
		if pool > 0 {
			w.refund(poolEpoch, pool)
		}
		granted, extra = 0, 0
		if n >= 0 {
			w.addRequest(e)
			granted = w.grant(e, n, b.ratio, b.minPS)
		}
		if charge > 0 {
			w.addRetries(e, charge)
		}
		if again {
			extra = w.lease(e, b.ratio, b.minPS)
		}
		// Written over the value read when it has the record's length (a
		// Store's Get returns the caller's copy).
		return w.encodeTo(cur), true, nil
	})
	if err != nil {
		return 0, err
	}
	l.refunds, l.deposits, l.dirty = Pending{}, Pending{}, false
	l.pool, l.poolCap, l.poolEpoch = extra, extra, e
	return granted, nil
}

// Unused gives back n grants handed out at grantedAt and not used: to the
// pool when they are of its epoch and it has room (they stay reserved, to
// be handed out again in that epoch), else with the next update.
func (l *Lease) Unused(grantedAt time.Time, n int) {
	if n <= 0 {
		return
	}
	eg := epochOf(grantedAt)
	if eg == l.poolEpoch && l.poolCap > 0 {
		back := min(n, l.poolCap-l.pool)
		l.pool += back
		n -= back
	}
	if n > 0 {
		l.refunds.addEpoch(eg, n)
		l.dirty = true
	}
}

// Charge counts n retries performed at now that were not granted, at once
// (as Budget.Charge: they happened; no bound is checked), with the deposits
// and refunds waiting; the pool is given back.
func (l *Lease) Charge(st store.Store, now time.Time, n int) error {
	if n <= 0 {
		return l.b.err
	}
	_, err := l.write(st, now, -1, n, false)
	return err
}

// Tick writes the deposits and refunds waiting, gives the pool back and,
// when grants were handed out since the last Tick while the budget allowed
// leases, takes a new pool sized by what the budget then allows, all in one
// store update (none when there is nothing to write or take). On error
// everything stays as it was.
func (l *Lease) Tick(st store.Store, now time.Time) error {
	// While the budget is too low to lease (poolCap 0), each request's
	// round trip sizes the next lease itself.
	again := l.handed > 0 && l.poolCap > 0
	if !again && l.pool == 0 && !l.dirty {
		return l.b.err
	}
	if _, err := l.write(st, now, -1, 0, again); err != nil {
		return err
	}
	l.handed = 0
	return nil
}

// addEpoch is Add (n > 0) for a grant epoch. A count of an epoch at least a window
// older than the one its slot holds is dropped (it is out of that epoch's
// window: there is nothing to give back), instead of replacing it.
func (p *Pending) addEpoch(e int64, n int) {
	i := slot(e)
	if p.epochs[i] != e {
		if p.epochs[i] > e && p.n[i] > 0 {
			return
		}
		p.epochs[i], p.n[i] = e, 0
	}
	p.n[i] += n
	p.used |= 1 << i // n > 0 (every caller's)
}

// deposit counts the requests held in p in w (pure: p is not changed);
// requests of epochs that slid out of the window are not counted.
func (p *Pending) deposit(w *window) {
	for m := p.used; m != 0; m &= m - 1 {
		i := bits.TrailingZeros16(m) % Buckets
		if w.inWindow(p.epochs[i]) {
			w.requests[i] = sat(w.requests[i], p.n[i])
		}
	}
}

// lease reserves in epoch e the extra grants of a lease,
// min(floor(available/LeaseShare), MaxLease), and returns how many.
func (w *window) lease(e int64, ratio float64, minPS int) int {
	req, ret := w.sums()
	avail := int64(allowanceOf(req, ratio, minPS)) - int64(ret)
	k := int(min(avail/LeaseShare, MaxLease))
	if k <= 0 {
		return 0
	}
	w.addRetries(e, k)
	return k
}
