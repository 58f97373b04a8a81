package ratelimit

import (
	"math"
	"time"
	"unsafe"

	"github.com/breakwater/breakwater/patterns/store"
)

// Leases (doc.go, "Worker leases"): one worker's requests taken from the
// store ahead of use, per key of one Limiter.
const (
	// LeaseDivisor: a take from the store with r requests remaining takes
	// floor(r/LeaseDivisor) requests at once when that is at least 2 (one
	// request otherwise: the exact path, so a limit whose capacity is below
	// 2×LeaseDivisor never leases).
	LeaseDivisor = 256
	// LeaseLifetime bounds how long after its take a lease admits: at most
	// min(Per, LeaseLifetime), and only inside the window (fixed_window)
	// or the sub-window (sliding_window) it was taken in.
	LeaseLifetime = time.Second
	// leaseWays is the associativity of a Leases table.
	leaseWays = 4
	// hintSlots is the size of a Leases' table of hints.
	hintSlots = 64
	// maxLeaseKey bounds the keys that lease (a longer one is decided one
	// request at a time), so the keys a table keeps stay small.
	maxLeaseKey = 128
	// minLeaseUse: a lease that ended having admitted fewer requests is
	// not renewed by the key's next request (Check.decide).
	minLeaseUse = 1
)

// Leasable says whether a Limiter with settings s may take leases: s is
// valid, its algorithm is token_bucket, gcra, fixed_window or
// sliding_window (never leaky_bucket, whose delays shape) and its capacity
// is at least 2×LeaseDivisor.
func Leasable(s Settings) bool {
	q, ok := compile(s)
	return ok && q.leasable()
}

func (q *params) leasable() bool {
	return q.alg != LeakyBucket && q.b >= 2*LeaseDivisor
}

// Leases are one worker's leases on the states of one Limiter: per key (and
// settings), the requests taken from the store and not used yet, in a table
// of fixed capacity (4-way set associative, keys hashed under the
// limiter's hash key). A check of a limiter with leases is decided by
// AllowAllInto from its lease when it has one (no store operation) and
// otherwise takes a lease from the store. Not safe for concurrent use;
// Expire, from the worker's periodic tick, gives back the unused part of
// ended leases.
type Leases struct {
	lim  *Limiter
	e    []lease
	sets uint64
	live int
	// order: the leases taken (not the seen entries), a binary min-heap
	// by until, each lease's pos its index there (-1: not in it): Expire
	// visits only the leases that ended, not the table nor every lease.
	order []heapEntry
	// lastKey, lastSlot: find's last answer, valid while epoch (bumped by
	// every change of which key a slot holds) is lastEpoch: the same key
	// string again (the same address: an unkeyed or path-keyed limit) is
	// found without hashing or comparing bytes.
	lastKey          string
	lastSlot         int
	epoch, lastEpoch uint64
	// hints: by the address of a key string's bytes (hintOf), slot+1 of
	// the lease last found by hash for a string there: a caller that gives
	// the same string again (the filter's cache of keys) is found without
	// hashing. Only a hint: find uses it when that slot holds the very
	// string (the same address; no bytes compared: many keys share a
	// hint), so a reused address or a stale slot only costs the hash.
	hints [hintSlots]int32
	// next is the earliest end of a live lease: Expire does nothing before.
	next int64
	// hashedKey, hashed: the last key string that hash hashed, and its
	// hash.
	hashedKey string
	hashed    uint64
	// scratch holds the state a lease's refund produces before a take
	// decides on it (reused).
	scratch []byte
}

// lease is one key's lease; on false: none (key stays, to be reused).
type lease struct {
	_   [0]func() // not comparable: no equality function in the binary
	key string    // the caller's string
	tag uint32    // the high half of the key's hash
	pos int32     // its index in Leases.order (the heap), -1 when not in it
	s   Settings
	// sp: the settings the last Hit of the lease was given (equal to s;
	// nil: none since the take), which Usable compares by address.
	sp     *Settings
	on     bool
	over   bool  // taken from the limiter's overflow state
	tokens int64 // requests left
	took   int64 // requests the lease kept at its take (tokens then)
	// from, until: the lease admits at t with from <= t < until.
	from, until int64
	// mark: fixed_window, the end of the window of the take (the state's);
	// sliding_window, the start of its sub-window.
	mark int64
	// life is the lease's lifetime (min(Per, LeaseLifetime), and at most
	// a sub-window for sliding_window), also how long a seen key is
	// remembered; idle: the entry only says that the key was seen (a
	// first request takes one request, the next one within life a lease),
	// it holds and admits nothing.
	life int64
	idle bool
	// rem, limit, resetAt: the take's Decision (Remaining after it, Limit,
	// now + Reset), for the RateLimit values of the requests it admits.
	rem, limit, resetAt int64
}

// SetLeases makes l one worker's limiter that takes leases (doc.go,
// "Worker leases") for at most capacity keys at once (rounded up to a
// multiple of 4; < 1 means 4): AllowAll then decides a request of one from
// l's lease of the key when it has one that admits. Such a Limiter is not
// safe for concurrent use (the filter has one per limit per VM); the
// worker calls ExpireLeases periodically. Call it before use. The table
// keeps the key strings it is given (no copy) and the last one (to find it
// again without hashing or comparing bytes when given again): a caller must
// give keys that are real Go strings, never an unsafe view of memory it
// reuses, and should give keys of their own (a substring keeps its whole
// string alive while its lease lasts).
// The table is allocated with the first lease: a limiter that never
// leases (Leasable false for all its settings) costs no memory for it.
// The set values the limiter writes are built in one buffer it reuses
// (store.Table.WithBuffer: the store must copy what Set is given, as
// Envoy's shared data and store.Mem do).
func (l *Limiter) SetLeases(capacity int) {
	sets := max((capacity+leaseWays-1)/leaseWays, 1)
	l.leases = &Leases{lim: l, sets: uint64(sets), next: math.MaxInt64}
	l.table = l.table.WithBuffer(new([]byte)) // one worker's: one update at a time
}

// Leases returns l's leases, nil when it takes none (SetLeases).
func (l *Limiter) Leases() *Leases { return l.leases }

// ExpireLeases ends l's leases that no longer admit at now and gives their
// unused requests back to st (Leases.Expire); nothing without leases.
func (l *Limiter) ExpireLeases(st store.Store, now time.Time) {
	if l.leases != nil {
		l.leases.Expire(st, now)
	}
}

// NextLeaseEnd is the earliest instant (Unix ns) at which ExpireLeases may
// end a lease, math.MaxInt64 when l holds none: a periodic caller skips the
// call before it (most ticks end no lease).
func (l *Limiter) NextLeaseEnd() int64 {
	if lz := l.leases; lz != nil && lz.live > 0 {
		return lz.next
	}
	return math.MaxInt64
}

// Capacity is the number of keys the table can hold.
func (lz *Leases) Capacity() int { return int(lz.sets) * leaseWays }

// Live is the number of entries in use: leases held (empty ones included
// until they end) and seen keys (an entry kept until its slot is reused).
func (lz *Leases) Live() int { return lz.live }

// Held is the number of requests the leases hold, not used yet.
func (lz *Leases) Held() int64 {
	var n int64
	for i := range lz.e {
		if lz.e[i].on {
			n += lz.e[i].tokens
		}
	}
	return n
}

// hash is key's hash, FNV-1a from the limiter's hash key (cheaper than
// its SipHash; a client that makes its keys collide only makes this
// worker's leases of them end sooner, each giving back its unused requests:
// it cannot change what the store admits). The last string hashed and its
// hash are kept: a request decided from the store finds its key, then
// decide finds it again and put places it, with one hash.
func (lz *Leases) hash(key string) uint64 {
	if sameString(key, lz.hashedKey) {
		return lz.hashed
	}
	h := lz.lim.hk[0] ^ 0xcbf29ce484222325
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * 0x100000001b3
	}
	lz.hashedKey, lz.hashed = key, h
	return h
}

// find is the slot of key's lease (-1 when it has none) and the first slot
// of key's set.
func (lz *Leases) find(key string) (int, int) {
	if lz.live == 0 {
		return -1, 0
	}
	if lz.epoch == lz.lastEpoch && sameString(key, lz.lastKey) {
		return lz.lastSlot, lz.lastSlot / leaseWays * leaseWays
	}
	hp := &lz.hints[hintOf(key)]
	if i := int(*hp) - 1; uint(i) < uint(len(lz.e)) {
		if e := &lz.e[i]; e.on && sameString(e.key, key) { // the same string: no bytes compared
			lz.lastKey, lz.lastSlot, lz.lastEpoch = key, i, lz.epoch
			return i, i / leaseWays * leaseWays
		}
	}
	h := lz.hash(key)
	b := int(h%lz.sets) * leaseWays
	tag := uint32(h >> 32)
	for i := b; i < b+leaseWays; i++ {
		if e := &lz.e[i]; e.on && e.tag == tag && e.key == key {
			lz.lastKey, lz.lastSlot, lz.lastEpoch = key, i, lz.epoch
			*hp = int32(i + 1)
			return i, b
		}
	}
	return -1, b
}

// sameString says whether a and b are the same string: the same length and
// bytes at the same address (a key string given again; the table keeps the
// strings it is given). Only an address compared: a copy of a string is not
// the same.
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

// hintOf is the index in Leases.hints of key's string: from the address
// of its bytes (a key string the caller gives again has the same).
func hintOf(key string) int {
	a := uintptr(unsafe.Pointer(unsafe.StringData(key)))
	return int((a>>3 ^ a>>9) % hintSlots)
}

// usable says whether lease e admits a request under s at t.
func (e *lease) usable(s *Settings, t int64) bool {
	return e.tokens > 0 && e.from <= t && t < e.until && e.s.same(s)
}

// same is s == o, field by field (no call to the generated equality).
func (s *Settings) same(o *Settings) bool {
	return s.Requests == o.Requests && s.Per == o.Per && s.Burst == o.Burst && s.Algorithm == o.Algorithm && s.MaxDelay == o.MaxDelay
}

// estimate is the Decision of a request admitted by lease i leaving left
// requests in it: Remaining is the store's at the take plus left (at most
// the limit), Reset until the take's reset instant.
func (lz *Leases) estimate(i int, t, left int64) Decision {
	e := &lz.e[i]
	return Decision{Allowed: true, Limit: e.limit, Remaining: min(e.limit, e.rem+left),
		Reset: time.Duration(max(e.resetAt-t, 0))}
}

// put records a lease of left requests for key under s taken at t by the
// Decision d, whose state written is wrote (over: the overflow state's). A
// full set gives up its lease that ends first (its unused requests go back
// to the store).
func (lz *Leases) put(st store.Store, now time.Time, t int64, key string, s Settings, d Decision, left int64, wrote []byte, over bool) {
	q, _ := lz.lim.params(s)
	if lz.e == nil {
		lz.e = make([]lease, lz.sets*leaseWays)
	}
	h := lz.hash(key)
	b, tag := int(h%lz.sets)*leaseWays, uint32(h>>32)
	slot := -1
	for i := b; i < b+leaseWays; i++ {
		if lz.e[i].tag == tag && lz.e[i].key == key { // its own slot (the lease there has ended)
			slot = i
			break
		}
		if slot < 0 || lz.e[i].worth() < lz.e[slot].worth() ||
			lz.e[i].worth() == lz.e[slot].worth() && lz.e[i].until < lz.e[slot].until {
			slot = i
		}
	}
	e := &lz.e[slot]
	if e.on {
		lz.release(st, now, t, slot)
	}
	if !sameString(e.key, key) {
		e.key = key // the caller's string (immutable): found again by address
	}
	e.tag = tag
	lz.epoch++
	e.s, e.on, e.over, e.tokens, e.idle = s, true, over, left, left == 0
	e.took = left
	e.sp = nil
	e.rem, e.limit = d.Remaining, d.Limit
	e.resetAt = t + min(int64(d.Reset), math.MaxInt64-t)
	e.life = min(int64(q.p), int64(LeaseLifetime))
	if q.alg == SlidingWindow {
		e.life = min(e.life, q.sw) // a lease admits in its sub-window only
	}
	e.from, e.until = t, t+e.life
	switch {
	case left == 0: // seen: admits nothing
		e.from = e.until
	case q.alg == FixedWindow:
		end, _, _ := decodeFixed(wrote)
		e.mark = end
		e.from, e.until = t/int64(q.p)*int64(q.p), min(end, e.until)
	case q.alg == SlidingWindow:
		r, _ := decodeSliding(wrote)
		e.mark = r.start
		e.from, e.until = r.start, min(r.start+q.sw, e.until)
	}
	lz.live++
	if left > 0 { // a seen key's entry needs no end: decide checks its until
		lz.link(slot)
		lz.next = min(lz.next, e.until)
	} else {
		e.pos = -1
	}
}

// heapEntry is a live lease in Leases.order: its slot and its until (a
// copy: a lease's until does not change while it is live).
type heapEntry struct {
	until int64
	slot  int32
}

// link adds lease i, just taken (its until set), to the heap.
func (lz *Leases) link(i int) {
	lz.e[i].pos = int32(len(lz.order))
	lz.order = append(lz.order, heapEntry{lz.e[i].until, int32(i)})
	lz.up(len(lz.order) - 1)
}

// unlink removes lease i from the heap (the last one takes its place,
// moved up or down to where it belongs).
func (lz *Leases) unlink(i int) {
	p, n := int(lz.e[i].pos), len(lz.order)-1
	last := lz.order[n]
	lz.order = lz.order[:n]
	if p != n {
		lz.place(p, last)
		lz.down(p)
		lz.up(p)
	}
	lz.e[i].pos = -1
}

// place puts x at heap index j.
func (lz *Leases) place(j int, x heapEntry) {
	lz.order[j] = x
	lz.e[x.slot].pos = int32(j)
}

// up moves the entry at heap index j up to where it belongs.
func (lz *Leases) up(j int) {
	o := lz.order
	x := o[j]
	for j > 0 {
		p := (j - 1) / 2
		if o[p].until <= x.until {
			break
		}
		lz.place(j, o[p])
		j = p
	}
	lz.place(j, x)
}

// down moves the entry at heap index j down to where it belongs.
func (lz *Leases) down(j int) {
	o := lz.order
	x := o[j]
	for c := 2*j + 1; c < len(o); c = 2*j + 1 {
		if r := c + 1; r < len(o) && o[r].until < o[c].until {
			c = r
		}
		if x.until <= o[c].until {
			break
		}
		lz.place(j, o[c])
		j = c
	}
	lz.place(j, x)
}

// worth orders the entries a full set gives up first: none, seen, used up,
// holding requests.
func (e *lease) worth() int {
	switch {
	case !e.on:
		return 0
	case e.idle:
		return 1
	case e.tokens == 0:
		return 2
	}
	return 3
}

// release ends lease i, giving its unused requests back to the store
// (refundLease: only where they were counted).
func (lz *Leases) release(st store.Store, now time.Time, t int64, i int) {
	e := &lz.e[i]
	if e.tokens > 0 {
		if q, ok := lz.lim.params(e.s); ok {
			fn := func(cur []byte) ([]byte, bool, error) {
				nx := q.refundLease(nil, cur, t, e)
				return nx, nx != nil, nil
			}
			if e.over {
				_ = lz.lim.table.UpdateOverflow(st, fn)
			} else {
				_ = lz.lim.table.Update(st, e.key, now.UnixNano(), fn)
			}
		}
	}
	lz.drop(i)
}

// giveBack gives lease i's unused requests back to the store and keeps the
// entry as seen (admitting nothing) for one more lifetime (out of the heap:
// decide checks a seen entry's until; a full set gives it up first).
func (lz *Leases) giveBack(st store.Store, now time.Time, t int64, i int) {
	e := &lz.e[i]
	lz.release(st, now, t, i)
	e.on, e.idle, e.tokens = true, true, 0
	e.from, e.until = t+e.life, t+e.life
	lz.live++
}

// drop ends lease i (or a seen entry) without giving anything back.
func (lz *Leases) drop(i int) {
	e := &lz.e[i]
	if e.on {
		e.on, e.tokens = false, 0
		if e.pos >= 0 {
			lz.unlink(i)
		}
		lz.live--
		lz.epoch++
	}
}

// Expire ends the leases that no longer admit at now and gives their unused
// requests back to the store (one update each). It does nothing before the
// earliest end of a lease; call it periodically (the filter: every tick).
func (lz *Leases) Expire(st store.Store, now time.Time) {
	t := clampNow(now)
	if lz.live == 0 || t < lz.next {
		return
	}
	// The heap's first lease ends first; one that ended leaves it, seen
	// for a lifetime from now (giveBack).
	for len(lz.order) > 0 && t >= lz.order[0].until {
		lz.giveBack(st, now, t, int(lz.order[0].slot))
	}
	lz.next = math.MaxInt64
	if len(lz.order) > 0 {
		lz.next = lz.order[0].until
	}
}

// refundLease gives the unused requests of lease e back to state st at t and
// returns the next state (appended to dst), nil when there is nothing to
// write. A bucket gets them back as Refund does; a window only while the
// state still counts them where they were taken: fixed_window in the same
// window, sliding_window in the same sub-window (uncounting them from a
// later one would let that one's requests stop counting early).
func (q *params) refundLease(dst, st []byte, t int64, e *lease) []byte {
	k := uint64(e.tokens)
	switch q.alg {
	case TokenBucket, GCRA:
		return q.refund(dst, st, t, k)
	case FixedWindow:
		end, count, ok := decodeFixed(st)
		if !ok || end != e.mark || count == 0 {
			return nil
		}
		return appendFixed(dst, end, count-min(count, k))
	case SlidingWindow:
		old, ok := decodeSliding(st)
		if !ok || old.sw != q.sw {
			return nil
		}
		r, _ := q.loadRing(st, t)
		if r.start < e.mark || (r.start-e.mark)%q.sw != 0 {
			return nil
		}
		i := (r.start - e.mark) / q.sw
		if i > SubWindows || r.c[i] == 0 {
			return nil
		}
		r.c[i] -= min(r.c[i], k)
		return appendSliding(dst, &r)
	}
	return nil
}

// RefundOne gives back one request of key admitted under s no earlier than
// since (a lower bound of the admission's instant), at now: to the key's
// lease when it still admits at now and was taken no later than since (the
// request was then counted where the lease's are), otherwise to the store
// (Refund of 1).
func (l *Limiter) RefundOne(st store.Store, key string, s Settings, since, now time.Time) error {
	if lz := l.leases; lz != nil {
		t := clampNow(now)
		if i, _ := lz.find(key); i >= 0 {
			if e := &lz.e[i]; e.s.same(&s) && e.from <= clampNow(since) && e.from <= t && t < e.until {
				e.tokens++
				return nil
			}
		}
	}
	return l.Refund(st, key, s, now, 1)
}

// Instant is now as the limiters compute with it (nanoseconds since the
// Unix epoch, clamped to [0, 2^62]): the t of Leases.Hit and Leases.Use.
func Instant(now time.Time) int64 { return clampNow(now) }

// Hit is the slot of key's lease when it admits a request of one under s at
// t (Instant), -1 otherwise; it changes nothing but find's memory of the
// last key and the lease's of s (kept: Usable compares its address). Use
// then takes the request from it: a caller of several checks uses their
// slots only once each of them hit (all or nothing, as AllowAllInto), and
// before any other operation on lz.
func (lz *Leases) Hit(key string, s *Settings, t int64) int {
	k, _ := lz.find(key) // the last key first, by address
	if k < 0 || !lz.e[k].usable(s, t) {
		return -1
	}
	lz.e[k].sp = s
	return k
}

// Last is the slot of key's lease when key is the string find last found
// (the same address: an unkeyed or path-keyed limit's key given again),
// else -1 (Hit then finds it). Small enough to be inlined by a caller that
// checks the slot with Usable before calling Hit.
func (lz *Leases) Last(key string) int {
	if lz.epoch != lz.lastEpoch || lz.live == 0 || !sameString(key, lz.lastKey) {
		return -1
	}
	return lz.lastSlot
}

// Holds says whether slot k (a hint: any int) holds key's lease, key being
// the very string the lease was taken with (the same address). Small
// enough to be inlined: a caller that kept the slot Hit gave for its key
// string checks it with Holds and Usable before calling Hit.
func (lz *Leases) Holds(k int, key string) bool {
	return uint(k) < uint(len(lz.e)) && lz.e[k].on && sameString(lz.e[k].key, key)
}

// Usable says whether the lease at slot k (from Last or Hit) admits a
// request of one under s at t, s being the very settings (the same
// address) the last Hit that found the lease was given: other settings,
// even equal ones, give false (Hit then decides). Small enough to be
// inlined: one comparison for the settings.
func (lz *Leases) Usable(k int, s *Settings, t int64) bool {
	e := &lz.e[k]
	return e.tokens > 0 && e.from <= t && t < e.until && e.sp == s
}

// Use takes one request from the lease at slot k (a Hit at t) and returns
// its Decision: Remaining is the store's at the take plus the requests left
// in the lease (at most Limit), Reset until the take's reset instant.
func (lz *Leases) Use(k int, t int64) Decision {
	e := &lz.e[k]
	e.tokens--
	return Decision{Allowed: true, Limit: e.limit, Remaining: min(e.limit, e.rem+e.tokens),
		Reset: time.Duration(max(e.resetAt-t, 0))}
}

// Take is Use without the Decision: it takes one request from the lease at
// slot k (a Hit at t) and returns the Decision's Remaining and the take's
// reset instant (Unix ns; the Decision's Reset is its distance from t, at
// least 0). Small enough to be inlined, with scalars a caller compares
// without a Decision (a struct of six words) in memory.
func (lz *Leases) Take(k int) (remaining, resetAt int64) {
	e := &lz.e[k]
	e.tokens--
	return min(e.limit, e.rem+e.tokens), e.resetAt
}

// LimitAt is the Decision's Limit of a request admitted by the lease at
// slot k (the take's).
func (lz *Leases) LimitAt(k int) int64 { return lz.e[k].limit }

// Unuse gives back the request Use took from the lease at slot k, before
// any other operation on lz: a caller whose later check did not hit.
func (lz *Leases) Unuse(k int) { lz.e[k].tokens++ }

// allowLeased is AllowAllInto for a request of one whose checks may hold
// leases: allowStore decides it with each check's lease that admits (when
// every check has one, with no store operation: each lease gives one
// request).
func allowLeased(ds []Decision, arena []byte, st store.Store, now time.Time, checks []Check) (Result, []byte, error) {
	t := clampNow(now)
	var hitBuf [8]int32
	hits := hitBuf[:]
	if len(checks) > len(hitBuf) {
		hits = make([]int32, len(checks))
	}
	hits = hits[:len(checks)]
	for i := range checks {
		c := &checks[i]
		hits[i] = -1
		if lz := c.Limiter.leases; lz != nil {
			if k, _ := lz.find(c.Key); k >= 0 && lz.e[k].usable(&c.Settings, t) {
				hits[i] = int32(k)
			}
		}
	}
	return allowStore(ds, arena, st, now, 1, checks, hits)
}

// allowStore decides the checks of a request of n from the store in order,
// except those with a lease that admits (hits[i] >= 0; hits nil: none): a
// check whose limiter has leases, for a request of one, takes a lease
// (allowQ) and gives back the unused part of its key's ended lease. The
// leases' requests are used and the new leases recorded only once every
// check admitted: all or nothing. When check k rejects (or fails), the
// store admissions of checks 0..k-1 are undone in reverse order.
func allowStore(ds []Decision, arena []byte, st store.Store, now time.Time, n int64, checks []Check, hits []int32) (Result, []byte, error) {
	res := Result{Deciding: -1, Decisions: ds}
	t := clampNow(now)
	var stack [8]taken
	tk := stack[:]
	if len(checks) > len(stack) {
		tk = make([]taken, len(checks))
	}
	keep := len(checks) > 1
	var err error
	fail, leased := -1, false
	for i := range checks {
		c := &checks[i]
		if hits != nil && hits[i] >= 0 { // tk[i] stays zero: nothing taken from the store
			lz := c.Limiter.leases
			ds[i] = lz.estimate(int(hits[i]), t, lz.e[hits[i]].tokens-1)
			continue
		}
		// One buffer for the copies of the states read (kept for the undo
		// when there are several checks), sized for typical states: made
		// by the first check decided from the store.
		if keep && cap(arena) == 0 {
			arena = make([]byte, 0, 48*len(checks))
		}
		p := &tk[i]
		err = c.decide(p, st, now, t, n, keep, &arena)
		ds[i] = p.d
		if err != nil || !p.d.Allowed {
			fail = i
			break
		}
		if p.n > uint64(n) {
			// As one request would leave it: the lease keeps the rest.
			ds[i].Remaining += int64(p.n) - n
		}
		leased = leased || p.n > uint64(n) || p.seen
	}
	if fail >= 0 {
		for i := fail - 1; i >= 0; i-- {
			if hits == nil || hits[i] < 0 {
				c := &checks[i]
				_ = c.Limiter.undo(st, c.Key, c.Settings, now, int64(tk[i].n), tk[i].prev, tk[i].wrote)
			}
		}
		res.Deciding = fail
		return res, arena, err
	}
	if hits != nil || leased {
		for i := range checks {
			c := &checks[i]
			if hits != nil && hits[i] >= 0 {
				c.Limiter.leases.e[hits[i]].tokens--
			} else if p := &tk[i]; p.n > uint64(n) || p.seen {
				c.Limiter.leases.put(st, now, t, c.Key, c.Settings, p.d, int64(p.n)-n, p.wrote, p.over)
			}
		}
	}
	res.Allowed = true
	res.pick()
	return res, arena, nil
}

// decide decides c from the store for a request of n (allowQ), into *p
// (zero when c's settings are invalid). With leases
// and n of one, it takes a lease when it can (the key was seen before), and
// the key's lease that no longer admits gives its unused requests back: in
// the same update when they came from the same state, else in one of their
// own.
func (c *Check) decide(p *taken, st store.Store, now time.Time, t, n int64, keep bool, arena *[]byte) error {
	l := c.Limiter
	q, ok := l.params(c.Settings)
	if !ok {
		_, err := c.Settings.Normalize()
		return err
	}
	lz := l.leases
	if lz == nil || n != 1 {
		return l.allowQ(p, st, c.Key, &q, now, n, keep, arena, false, nil)
	}
	var old *lease
	oi, _ := lz.find(c.Key)
	seen := oi >= 0
	renew := seen
	if seen {
		if e := &lz.e[oi]; e.tokens == 0 {
			// Seen, or its lease used up; an entry seen more than a
			// lifetime ago (it stays until its slot is reused) counts
			// as not seen: the key is seen anew.
			renew = !e.idle || t < e.until
			lz.drop(oi)
			oi = -1
		} else if !e.s.same(&c.Settings) {
			lz.release(st, now, t, oi)
			oi = -1
		} else {
			old = e
			// A lease that ended having admitted fewer than
			// minLeaseUse requests cost more (its take and its give
			// back) than deciding them one by one: the key goes back
			// to seen, and leases again when it comes back within a
			// lifetime.
			renew = e.took-e.tokens >= minLeaseUse
		}
	}
	leasable := len(c.Key) <= maxLeaseKey && q.leasable()
	err := l.allowQ(p, st, c.Key, &q, now, n, keep, arena, renew && leasable, old)
	if err == nil && oi >= 0 {
		if p.settled { // given back, or nothing to give back, in this update
			lz.drop(oi)
		} else {
			lz.release(st, now, t, oi)
		}
	}
	// A key seen for the first time (or again only after a lifetime, or
	// whose lease ended unused) takes one request; it is remembered (once
	// every check admitted), so that its next request within a lifetime
	// takes a lease: a flood of keys seen once costs what it costs without
	// leases.
	p.seen = !renew && leasable
	return err
}
