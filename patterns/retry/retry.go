package retry

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"time"

	"github.com/breakwater/breakwater/patterns/field"
	"github.com/breakwater/breakwater/patterns/store"
)

// The sliding second is Buckets buckets of BucketWidth.
const (
	Buckets     = 10
	BucketWidth = 100 * time.Millisecond
)

// Defaults applied by Normalize to the zero Settings.
const (
	DefaultRatio        = 0.2
	DefaultMinPerSecond = 5
	// MaxRatio and MaxMinPerSecond bound the settings.
	MaxRatio        = 1000
	MaxMinPerSecond = 1_000_000
)

// ErrInvalid is wrapped by every error Normalize returns.
var ErrInvalid = errors.New("retry: invalid budget settings")

// Settings of a retry budget. A nil field takes its default; an explicit
// zero is kept (Ratio 0 = only MinPerSecond retries per second,
// MinPerSecond 0 = only the ratio).
type Settings struct {
	// Ratio of retries to requests allowed over the sliding second, in
	// [0, MaxRatio]; nil = DefaultRatio (0.2).
	Ratio *float64
	// MinPerSecond retries allowed over the sliding second whatever the
	// request count, in [0, MaxMinPerSecond]; nil = DefaultMinPerSecond (5).
	MinPerSecond *int
}

// Of returns the Settings of an explicit ratio and minimum.
func Of(ratio float64, minPerSecond int) Settings {
	return Settings{Ratio: &ratio, MinPerSecond: &minPerSecond}
}

// Values returns the ratio and the minimum of normalized settings (the
// defaults for a nil field).
func (s Settings) Values() (ratio float64, minPerSecond int) {
	ratio, minPerSecond = DefaultRatio, DefaultMinPerSecond
	if s.Ratio != nil {
		ratio = *s.Ratio
	}
	if s.MinPerSecond != nil {
		minPerSecond = *s.MinPerSecond
	}
	return ratio, minPerSecond
}

// Normalize returns s with defaults applied (both fields non-nil), or a
// *field.Error wrapping ErrInvalid naming the configuration field (ratio,
// min_per_second). Both explicitly 0 is an error: no retry could ever
// happen.
func (s Settings) Normalize() (Settings, error) {
	ratio, minPS := s.Values()
	if math.IsNaN(ratio) || ratio < 0 || ratio > MaxRatio {
		return s, field.New("retry", ErrInvalid, "ratio", "must be in [0,%d], got %v", MaxRatio, ratio)
	}
	if minPS < 0 || minPS > MaxMinPerSecond {
		return s, field.New("retry", ErrInvalid, "min_per_second", "must be in [0,%d], got %d", MaxMinPerSecond, minPS)
	}
	if ratio == 0 && minPS == 0 {
		return s, field.Conflict("retry", ErrInvalid, "min_per_second", "ratio",
			"is 0 and so is ratio: no retry could ever happen (use max_retries 0)")
	}
	return Of(ratio, minPS), nil
}

// Budget is the retry budget of one store key, shared by every worker that
// uses the same key. It holds only its settings and is safe for concurrent
// use.
type Budget struct {
	_   [0]func() // not comparable: the binary needs no equality function
	key string
	s   Settings
	// ratio and minPS are the values of s.
	ratio float64
	minPS int
	err   error
}

// NewBudget returns the budget kept at store key key. s is normalized here;
// if it is invalid every method returns the Normalize error (see Err).
func NewBudget(key string, s Settings) *Budget {
	ns, err := s.Normalize()
	r, m := ns.Values()
	return &Budget{key: key, s: ns, ratio: r, minPS: m, err: err}
}

// Err is the error of the settings given to NewBudget, nil when valid.
func (b *Budget) Err() error { return b.err }

// Settings returns the normalized settings.
func (b *Budget) Settings() Settings { return b.s }

// RecordRequest counts one request (not a retry) at now.
func (b *Budget) RecordRequest(st store.Store, now time.Time) error {
	return b.update(st, now, func(w window, e int64) (window, bool) {
		w.addRequest(e)
		return w, true
	})
}

// TryRetry reserves up to n retries at now and returns how many it granted
// (0..n): as many as keep the retries of the window within
// floor(Ratio × requests of the window + MinPerSecond). Granted retries are
// counted at once (reserved); give back the unused ones with Refund. On
// error nothing was reserved and granted is 0.
func (b *Budget) TryRetry(st store.Store, now time.Time, n int) (int, error) {
	if n <= 0 {
		return 0, b.err
	}
	var granted int
	err := b.update(st, now, func(w window, e int64) (window, bool) {
		granted = w.grant(e, n, b.ratio, b.minPS)
		return w, granted > 0
	})
	if err != nil {
		return 0, err
	}
	return granted, nil
}

// RequestRetries is RecordRequest followed by TryRetry(n), in one store
// round trip: the request counts before its own retries are granted. n <= 0
// only records the request.
func (b *Budget) RequestRetries(st store.Store, now time.Time, n int) (int, error) {
	return b.RequestRetriesSettling(st, now, n, nil)
}

// Pending holds refunds a caller defers to its next update of the budget
// (RequestRetriesSettling) or to a periodic Flush, so that giving back an
// unused grant costs no store round trip of its own. It keeps one count per
// bucket of the sliding second (refunds of buckets that slid out are
// dropped: there is nothing left to give back). Its zero value is empty. A
// Pending belongs to one caller (it is not safe for concurrent use).
type Pending struct {
	_      [0]func() // not comparable: the binary needs no equality function
	epochs [Buckets]int64
	n      [Buckets]int
	// used has bit i set when n[i] > 0 (apply and deposit visit only those).
	used uint16
}

// Add defers the refund of n retries granted at grantedAt.
func (p *Pending) Add(grantedAt time.Time, n int) {
	if n <= 0 {
		return
	}
	p.addEpoch(epochOf(grantedAt), n)
}

// Empty says whether nothing is deferred.
func (p *Pending) Empty() bool { return p.used == 0 }

// apply gives the deferred refunds back to w (pure: p is not changed).
func (p *Pending) apply(w *window) bool {
	changed := false
	for m := p.used; m != 0; m &= m - 1 {
		i := bits.TrailingZeros16(m) % Buckets
		if w.refund(p.epochs[i], p.n[i]) {
			changed = true
		}
	}
	return changed
}

// RequestRetriesSettling is RequestRetries that first gives back the
// refunds deferred in p, all in one store round trip; p is emptied when the
// update succeeded. p may be nil.
func (b *Budget) RequestRetriesSettling(st store.Store, now time.Time, n int, p *Pending) (int, error) {
	var granted int
	err := b.update(st, now, func(w window, e int64) (window, bool) {
		if p != nil {
			p.apply(&w)
		}
		w.addRequest(e)
		granted = 0
		if n > 0 {
			granted = w.grant(e, n, b.ratio, b.minPS)
		}
		return w, true
	})
	if err != nil {
		return 0, err
	}
	if p != nil {
		*p = Pending{}
	}
	return granted, nil
}

// Flush gives back the refunds deferred in p in one round trip (nothing when
// p is empty) and empties p.
func (b *Budget) Flush(st store.Store, now time.Time, p *Pending) error {
	if p.Empty() {
		return b.err
	}
	err := b.update(st, now, func(w window, e int64) (window, bool) {
		ok := p.apply(&w)
		return w, ok
	})
	if err == nil {
		*p = Pending{}
	}
	return err
}

// Refund gives back n retries reserved by a TryRetry (or RequestRetries)
// made at grantedAt, typically granted − performed once the response tells
// how many retries were performed. The retries are taken off the bucket they
// were reserved in if it is still in the window at now; once it has slid
// out there is nothing to give back.
func (b *Budget) Refund(st store.Store, grantedAt, now time.Time, n int) error {
	if n <= 0 {
		return b.err
	}
	eg := epochOf(grantedAt)
	return b.update(st, now, func(w window, e int64) (window, bool) {
		ok := w.refund(eg, n)
		return w, ok
	})
}

// Charge counts n retries performed at now that were not reserved through
// TryRetry (no bound is checked: they happened).
func (b *Budget) Charge(st store.Store, now time.Time, n int) error {
	if n <= 0 {
		return b.err
	}
	return b.update(st, now, func(w window, e int64) (window, bool) {
		w.addRetries(e, n)
		return w, true
	})
}

// Usage returns the requests and retries counted in the window at now,
// and the retries still available (a read; nothing is written).
func (b *Budget) Usage(st store.Store, now time.Time) (requests, retries, available int, err error) {
	if b.err != nil {
		return 0, 0, 0, b.err
	}
	cur, _, err := st.Get(b.key)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, 0, 0, err
	}
	w := decode(cur)
	e := epochOf(now)
	w.advance(e)
	req, ret := w.sums()
	return int(req), int(ret), max(0, w.allowance(b.ratio, b.minPS)-int(ret)), nil
}

// update applies fn to the decoded window (advanced to now) and writes it
// when fn says so or the window moved. fn takes and returns the window by
// value: a pointer given to a func value would move it to the heap on every
// update.
func (b *Budget) update(st store.Store, now time.Time, fn func(w window, e int64) (window, bool)) error {
	if b.err != nil {
		return b.err
	}
	e := epochOf(now)
	return store.Update(st, b.key, func(cur []byte) ([]byte, bool, error) {
		w := decode(cur)
		moved := w.advance(e)
		w, write := fn(w, e)
		if !write && !moved {
			return nil, false, nil
		}
		// The record is written over the value read when it has the
		// record's length (a Store's Get returns the caller's copy).
		return w.encodeTo(cur), true, nil
	})
}

// epochOf is the index of the bucket-width interval holding t.
func epochOf(t time.Time) int64 {
	ns := t.UnixNano()
	e := ns / int64(BucketWidth)
	if ns%int64(BucketWidth) < 0 {
		e--
	}
	return e
}

// window is the decoded record: bucket i holds the counts of the epoch e in
// (head-Buckets, head] with e mod Buckets == i.
type window struct {
	head              int64
	requests, retries [Buckets]uint32
}

const (
	version   = 1
	recordLen = 1 + 8 + Buckets*8
)

// decode returns the window in b; nil, short or corrupt input is a fresh
// (empty) window.
func decode(b []byte) window {
	w, ok := decodeStrict(b)
	if !ok {
		return window{}
	}
	return w
}

func decodeStrict(b []byte) (window, bool) {
	var w window
	if len(b) != recordLen || b[0] != version {
		return w, false
	}
	w.head = int64(binary.LittleEndian.Uint64(b[1:9]))
	for i := range Buckets { // one 8-byte load a bucket: requests, then retries
		v := binary.LittleEndian.Uint64(b[9+8*i:])
		w.requests[i], w.retries[i] = uint32(v), uint32(v>>32)
	}
	return w, true
}

func (w *window) encode() []byte { return w.encodeTo(nil) }

// encodeTo is encode into buf when it has the record's length (else into a
// new buffer).
func (w *window) encodeTo(buf []byte) []byte {
	if len(buf) != recordLen {
		buf = make([]byte, recordLen)
	}
	buf = buf[:recordLen]
	buf[0] = version
	binary.LittleEndian.PutUint64(buf[1:9], uint64(w.head))
	for i := range Buckets { // one 8-byte store a bucket: requests, then retries
		binary.LittleEndian.PutUint64(buf[9+8*i:], uint64(w.requests[i])|uint64(w.retries[i])<<32)
	}
	return buf
}

func slot(e int64) int {
	i := int(e % Buckets)
	if i < 0 {
		i += Buckets
	}
	return i
}

// advance moves the head to e if e is newer, clearing the buckets of the
// epochs that enter the window, and reports whether it moved. A fresh
// record (head 0) takes e.
func (w *window) advance(e int64) bool {
	if e <= w.head {
		return false
	}
	if e-w.head >= Buckets {
		w.requests, w.retries = [Buckets]uint32{}, [Buckets]uint32{}
	} else {
		for x := w.head + 1; x <= e; x++ {
			w.requests[slot(x)], w.retries[slot(x)] = 0, 0
		}
	}
	w.head = e
	return true
}

func (w *window) inWindow(e int64) bool { return e <= w.head && e > w.head-Buckets }

func sat(a uint32, n int) uint32 {
	s := uint64(a) + uint64(n)
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// addRequest counts a request of epoch e; a request older than the window
// (a clock more than a second behind the newest writer) is not counted.
func (w *window) addRequest(e int64) {
	if w.inWindow(e) {
		w.requests[slot(e)] = sat(w.requests[slot(e)], 1)
	}
}

// addRetries counts n retries of epoch e; retries older than the window are
// counted in the newest bucket (never lost).
func (w *window) addRetries(e int64, n int) {
	if !w.inWindow(e) {
		e = w.head
	}
	w.retries[slot(e)] = sat(w.retries[slot(e)], n)
}

func (w *window) sums() (req, ret uint64) {
	for i := range Buckets {
		req += uint64(w.requests[i])
		ret += uint64(w.retries[i])
	}
	return req, ret
}

// allowance is floor(Ratio × requests + MinPerSecond) over the window.
func (w *window) allowance(ratio float64, minPS int) int {
	req, _ := w.sums()
	return allowanceOf(req, ratio, minPS)
}

// allowanceOf is allowance for a window of req requests.
func allowanceOf(req uint64, ratio float64, minPS int) int {
	a := math.Floor(ratio*float64(req) + float64(minPS) + 1e-9)
	if a > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(a)
}

func (w *window) grant(e int64, n int, ratio float64, minPS int) int {
	req, ret := w.sums()
	g := min(int64(n), int64(allowanceOf(req, ratio, minPS))-int64(ret))
	if g <= 0 {
		return 0
	}
	w.addRetries(e, int(g))
	return int(g)
}

func (w *window) refund(e int64, n int) bool {
	if !w.inWindow(e) || w.retries[slot(e)] == 0 {
		return false
	}
	w.retries[slot(e)] -= uint32(min(int64(n), int64(w.retries[slot(e)])))
	return true
}

// RecordBytes is the size of a budget's one record in the store.
const RecordBytes = recordLen
