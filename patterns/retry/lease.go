package retry

import (
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
	b *Budget
	// deposits are the requests counted here and not written yet, refunds
	// the unused grants to give back, both by epoch.
	deposits, refunds Pending
	// pool grants of epoch poolEpoch are reserved in the store and not
	// handed out; poolCap bounds the pool (the extra grants of its lease;
	// 0 while the budget is too low to lease: every grant is a round trip).
	pool, poolCap int
	poolEpoch     int64
	// handed counts the grants handed out since the last Tick.
	handed int
}

// NewLease returns an empty lease of b.
func NewLease(b *Budget) *Lease { return &Lease{b: b} }

// Held is how many grants the worker holds reserved and not handed out.
func (l *Lease) Held() int { return l.pool }

// Pending says whether deposits or refunds wait for the next update.
func (l *Lease) Pending() bool { return !l.deposits.Empty() || !l.refunds.Empty() }

// expire gives back a pool of an epoch before e (a grant is handed out in
// the epoch it is counted in, never later).
func (l *Lease) expire(e int64) {
	if l.pool > 0 && l.poolEpoch != e {
		l.refunds.addEpoch(l.poolEpoch, l.pool)
		l.pool, l.poolCap = 0, 0
	}
}

// Request counts one request at now and grants it up to n retries (0..n),
// as Budget.RequestRetries would: from the pool when it holds n grants of
// now's epoch (the request is then counted with the next update), else in
// one store update that also writes the deposits and refunds waiting, gives
// the pool back and takes a new one. On error nothing was granted and the
// request is counted with the next update.
func (l *Lease) Request(st store.Store, now time.Time, n int) (int, error) {
	b := l.b
	if b.err != nil {
		return 0, b.err
	}
	e := epochOf(now)
	l.expire(e)
	if n <= 0 {
		l.deposits.addEpoch(e, 1)
		return 0, nil
	}
	if l.pool >= n {
		l.pool -= n
		l.handed += n
		l.deposits.addEpoch(e, 1)
		return n, nil
	}
	var granted, extra int
	pool := l.pool
	err := b.update(st, now, func(w window, e int64) (window, bool) {
		l.refunds.apply(&w)
		l.deposits.deposit(&w)
		if pool > 0 {
			w.refund(e, pool)
		}
		w.addRequest(e)
		granted = w.grant(e, n, b.ratio, b.minPS)
		extra = w.lease(e, b.ratio, b.minPS)
		return w, true
	})
	if err != nil {
		l.deposits.addEpoch(e, 1)
		return 0, err
	}
	l.refunds, l.deposits = Pending{}, Pending{}
	l.pool, l.poolCap, l.poolEpoch = extra, extra, e
	l.handed += granted
	return granted, nil
}

// Unused gives back n grants handed out at grantedAt and not used: to the
// pool when they are of its epoch and it has room (they stay reserved, to
// be handed out again in that epoch), else with the next update.
func (l *Lease) Unused(grantedAt time.Time, n int) {
	if n <= 0 {
		return
	}
	if eg := epochOf(grantedAt); eg == l.poolEpoch && l.poolCap > 0 {
		back := min(n, l.poolCap-l.pool)
		l.pool += back
		n -= back
	}
	l.refunds.Add(grantedAt, n)
}

// Charge counts n retries performed at now that were not granted, at once
// (Budget.Charge: they happened; no bound is checked).
func (l *Lease) Charge(st store.Store, now time.Time, n int) error {
	return l.b.Charge(st, now, n)
}

// Tick writes the deposits and refunds waiting, gives the pool back and,
// when grants were handed out since the last Tick, takes a new pool sized
// by what the budget then allows, all in one store update (none when there
// is nothing to write or take). On error everything stays as it was.
func (l *Lease) Tick(st store.Store, now time.Time) error {
	b := l.b
	if b.err != nil {
		return b.err
	}
	// Lease again only in lease mode: while the budget is too low to lease,
	// each request's round trip sizes the next lease itself.
	again := l.handed > 0 && l.poolCap > 0
	e := epochOf(now)
	l.expire(e)
	if !again && l.pool == 0 && !l.Pending() {
		return nil
	}
	var extra int
	pool, poolEpoch := l.pool, l.poolEpoch
	err := b.update(st, now, func(w window, e int64) (window, bool) {
		l.refunds.apply(&w)
		l.deposits.deposit(&w)
		if pool > 0 {
			w.refund(poolEpoch, pool)
		}
		extra = 0
		if again {
			extra = w.lease(e, b.ratio, b.minPS)
		}
		return w, true
	})
	if err != nil {
		return err
	}
	l.refunds, l.deposits = Pending{}, Pending{}
	l.pool, l.poolCap, l.poolEpoch = extra, extra, e
	l.handed = 0
	return nil
}

// addEpoch is Add for a grant epoch.
func (p *Pending) addEpoch(e int64, n int) {
	i := slot(e)
	if p.epochs[i] != e {
		p.epochs[i], p.n[i] = e, 0
	}
	p.n[i] += n
}

// deposit counts the requests held in p in w (pure: p is not changed);
// requests of epochs that slid out of the window are not counted.
func (p *Pending) deposit(w *window) {
	for i, n := range p.n {
		if n > 0 && w.inWindow(p.epochs[i]) {
			w.requests[i] = sat(w.requests[i], n)
		}
	}
}

// lease reserves in epoch e the extra grants of a lease,
// min(floor(available/LeaseShare), MaxLease), and returns how many.
func (w *window) lease(e int64, ratio float64, minPS int) int {
	_, ret := w.sums()
	avail := int64(w.allowance(ratio, minPS)) - int64(ret)
	k := int(min(avail/LeaseShare, MaxLease))
	if k <= 0 {
		return 0
	}
	w.addRetries(e, k)
	return k
}
