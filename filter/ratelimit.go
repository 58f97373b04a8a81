package filter

import (
	"math/bits"
	"strconv"
	"time"
	"unsafe"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
	"github.com/breakwater/breakwater/internal/streq"
	"github.com/breakwater/breakwater/patterns/ratelimit"
)

// rateLimitStage enforces rate_limit.limits: a request must pass every
// limit; one rejected by a limit consumes nothing from the others
// (ratelimit.AllowAll admits in order and refunds on rejection).
type rateLimitStage struct {
	p      *pluginContext
	pol    *policy
	limits []*limitRT
	checks []ratelimit.Check // reused per request (a VM is single-threaded)
	// bufs are AllowAllInto's, reused per request (the Decisions are read
	// only within admit).
	bufs ratelimit.Buffers
	// limitNum/limitStr: the last RateLimit-Limit value formatted (a
	// limit's requests: the same on most requests).
	limitNum int64
	limitStr string
	// rlPre is the start of the RateLimit-* headers' encoding for
	// limitStr (rlWire): x-breakwater-policy's pair, ratelimit-limit's and
	// ratelimit-remaining's name ("" when too long for the block).
	rlPre   string
	headers bool
	// global are the limits decided by the rate limit service: one call
	// per request carries all their descriptors.
	global      []*limitRT
	svc         *config.RateLimitService
	callTimeout uint32 // milliseconds
	svcFailures counter
	warned      svcWarnings
	globalNames string // the global limits' names, quoted, for the warnings
	// leased are the limiters of the local limits that take worker leases
	// (ratelimit.Limiter.SetLeases): the tick ends their expired leases.
	leased []*ratelimit.Limiter
	// fast: the stage has local limits only (no service), at most
	// rlKeptLen, none with tiers: onRequest may decide a
	// request from the leases.
	fast bool
}

// leaseKeys bounds the keys a keyed local limit holds leases for, per VM
// (its max_keys when lower); a limit without key parts has one key and a
// table of one set (leaseCapacity).
const leaseKeys = 1024

// leaseCapacity is the number of keys limit lc's leases are kept for, per
// VM: one set for a limit without key parts (its one key), else
// min(max_keys, leaseKeys).
func leaseCapacity(lc *config.Limit) int {
	if len(lc.Key) == 0 {
		return 1
	}
	return min(max(lc.MaxKeys, 1), leaseKeys)
}

// expireLeases ends the leases past their end and gives their unused
// requests back to shared data (the tick).
func (s *rateLimitStage) expireLeases(now time.Time) {
	t := now.UnixNano()
	for _, l := range s.leased {
		if t >= l.NextLeaseEnd() { // else no lease ends yet (a lease ends after 0)
			l.ExpireLeases(s.p.st, now)
		}
	}
}

// refund gives back the request a later stage did not let through, for
// each of checks: to the VM's lease it came from while that still admits
// (the request arrived no earlier than the lease's take), else to shared
// data. Not inlined (a rare path: its callers stay small).
//
//go:noinline
func (s *rateLimitStage) refund(h *httpContext, checks []ratelimit.Check, now time.Time) {
	for _, c := range checks {
		_ = c.Limiter.RefundOne(s.p.st, c.Key, c.Settings, h.arrived, now)
	}
}

type limitRT struct {
	cfg      *config.Limit
	lim      *ratelimit.Limiter
	settings ratelimit.Settings            // default tier
	tiers    map[string]ratelimit.Settings // named tiers (the config's, read-only)
	limited  counter
	lz       *ratelimit.Leases // the worker's leases of lim (local limits)
	kind     keyKind           // the key's form, for onRequest's fast pass
	// hslot is the entry of the one header part's name in the VM's header
	// table (keyHeader; -1: none yet, or the table was full): found by
	// keyOf, which the first request of the limit calls.
	hslot int8
	// lastVal/lastKey: for a one-part key, the last request's value of the
	// part and its key (lastVal is a substring of lastKey, so no header
	// view is kept); keyOf builds a key again only for another value.
	lastVal, lastKey string
	// keys caches the keys of recent values of a one-part key (allocated
	// with the first one).
	keys *keyCache
}

// keyKind is the form of a limit's key that onRequest's fast pass builds itself.
type keyKind uint8

const (
	keyOther  keyKind = iota // keyOf
	keyNone                  // no part: ""
	keyPath                  // one part, the path: the last key again when the path is the last one
	keyHeader                // one part, a header: the cache's entry (headerEntry)
)

// kindOf is the keyKind of a limit's key parts.
func kindOf(parts []config.KeyPart) keyKind {
	switch {
	case len(parts) == 0:
		return keyNone
	case len(parts) == 1 && parts[0].Kind == config.KeyPath:
		return keyPath
	case len(parts) == 1 && parts[0].Kind == config.KeyHeader:
		return keyHeader
	}
	return keyOther
}

// keyCache holds the keys of recent values of a one-part key, direct-mapped
// by a hash of the value: at most keyCacheSize values of at most
// keyCacheLen bytes, each a substring of its key (no header view is kept).
type keyCache [keyCacheSize]keyEntry

// keyEntry is one value of a keyCache and its key.
type keyEntry struct {
	_        [0]func() // not comparable: no equality function in the binary
	val, key string
	// slot is where the limit's leases last held key's lease (a hint for
	// ratelimit.Leases.Holds; -1: none yet).
	slot int
}

// keyHash is the hash of a one-part key's value that places it in the
// limit's cache of keys (keyCache): from its first and last words (4 or 8
// bytes) up to 16 bytes, every 8-byte word above, its length, and every
// byte below 4; a few multiplications, folded (mixWords), with no loop
// over the bytes up to 16. Values that collide only miss the cache (their
// key is built again): nothing a client chooses changes a key or a limit.
func keyHash(v string) uint32 {
	n := len(v)
	p := unsafe.Pointer(unsafe.StringData(v))
	var w0, w1 uint64
	switch {
	case n > 16:
		// Every word before the last one, then the last one.
		m := uint64(n)
		for i := 0; i < n-8; i += 8 {
			m = (m ^ *(*uint64)(unsafe.Add(p, i))) * hashK1
		}
		w1 = *(*uint64)(unsafe.Add(p, n-8))
		return hashWords(m, w1<<8, n) ^ uint32(w1>>56)
	case n >= 8:
		w0, w1 = *(*uint64)(p), *(*uint64)(unsafe.Add(p, n-8))
		if n == 8 {
			w0 <<= 8 // the last byte left out
		}
		return hashWords(w0, w1<<8, n) ^ uint32(w1>>56)
	case n >= 4:
		w0, w1 = uint64(*(*uint32)(p)), uint64(*(*uint32)(unsafe.Add(p, n-4)))
		if n == 4 {
			w0 &= 0xffffff // the last byte left out
		}
		return hashWords(w0, w1<<8&0xffffffff, n) ^ uint32(w1>>24)
	}
	if n == 0 {
		return hashWords(0, 0, 0)
	}
	for i := range n - 1 {
		w0 = w0<<8 | uint64(v[i])
	}
	return hashWords(w0, 0, n) ^ uint32(v[n-1])
}

// hashWords mixes keyHash's words (the last byte left out: keyHash adds
// it unmixed, so values that differ only there never collide, as FNV-1a
// keeps them apart).
func hashWords(w0, w1 uint64, n int) uint32 {
	return mixWords(w0*hashK0 ^ w1*hashK1 ^ uint64(n))
}

// mixWords is m with its high bits folded down (m ^ m>>29), multiplied
// again, the product's high half kept: a bit of a product depends only on
// the operand's bits at or below it, so the products' low bits alone would
// place values that differ only in their higher bytes (sequential ids:
// "user-123", "user-124") in a few entries of the cache.
func mixWords(m uint64) uint32 {
	return uint32((m ^ m>>29) * hashK0 >> 32)
}

// The multipliers of keyHash (odd 64-bit constants of well-mixed bits).
const (
	hashK0 = 0x9e3779b97f4a7c15
	hashK1 = 0xc2b2ae3d27d4eb4f
)

// The bounds of a limit's cache of keys (limitRT.keys), per VM: 40 bytes
// an entry (160 KiB, allocated with the limit's first key) plus the key
// strings it keeps. Direct-mapped, so a thousand clients that come back in
// turn share about a fifth of their entries (1-e^(-1000/4096)) and miss on
// those: the key is built again (one allocation).
const (
	keyCacheSize = 4096
	keyCacheLen  = 128
)

// headerEntry is the cache's entry of the request's value of the limit's
// one header part (keyHeader), its key built when missing; nil when the
// value is too long for the cache (keyOf then builds the key).
func (l *limitRT) headerEntry(r *requestInfo) *keyEntry {
	v, _ := r.header(l.cfg.Key[0].Arg)
	if len(v) > keyCacheLen || l.keys == nil {
		return nil
	}
	c := &l.keys[keyHash(v)%keyCacheSize]
	if c.key != "" && streq.Words(c.val, v) {
		return c
	}
	l.keyOf(r) // builds the key into c
	return c
}

// keyOf is r.key(l.cfg.Key), built again for a one-part key only when the
// part's value is neither the last request's (a part other than a header)
// nor in the cache of keys. A key is always a string of its own (never a
// view of the request's headers): the limiter's leases keep the strings
// they are given (ratelimit.Limiter.SetLeases).
func (l *limitRT) keyOf(r *requestInfo) string {
	switch len(l.cfg.Key) {
	case 0:
		return "" // the policy's one shared key
	case 1:
	default:
		return r.key(l.cfg.Key)
	}
	kp := l.cfg.Key[0]
	v := r.part(kp)
	if l.hslot < 0 && kp.Kind == config.KeyHeader && r.tab != nil {
		// The header's entry in the VM's header table (part added the
		// name): the fast pass reads the value there from the next request
		// on (-1 again when the table had no room).
		l.hslot = int8(r.tab.find(kp.Arg, r.tab.n))
	}
	// The last value's key again (a header's value, one of many clients,
	// goes to the cache at once).
	if kp.Kind != config.KeyHeader && l.lastKey != "" && streq.Words(v, l.lastVal) {
		return l.lastKey
	}
	var c *keyEntry
	if len(v) <= keyCacheLen {
		if l.keys == nil {
			l.keys = new(keyCache)
		}
		c = &l.keys[keyHash(v)%keyCacheSize] // a client that collides only misses the cache
		if c.key != "" && streq.Words(c.val, v) {
			l.lastKey, l.lastVal = c.key, c.val
			return c.key
		}
	}
	k := config.BuildKey(l.cfg.Key, func(config.KeyPart) string { return v })
	l.lastKey = k
	l.lastVal = k[len(k)-1-len(v) : len(k)-1] // "<len>:<v>,"
	if c != nil {
		c.val, c.key, c.slot = l.lastVal, k, -1
	}
	return k
}

func newRateLimitStage(p *pluginContext, ns string, pol *policy, rc *config.RateLimit) (*rateLimitStage, error) {
	s := &rateLimitStage{p: p, pol: pol, headers: rc.Headers, svc: rc.Service}
	tiered := false
	if rc.Service != nil {
		s.callTimeout = uint32(max(rc.Service.Timeout/time.Millisecond, 1))
		s.svcFailures = p.m.counter(metricdef.Name(ns, metricdef.RateLimitServiceFailuresTotal, pol.name))
	}
	for _, lc := range rc.Limits {
		l := &limitRT{
			cfg:     lc,
			kind:    kindOf(lc.Key),
			hslot:   -1,
			limited: p.m.counter(metricdef.Name(ns, metricdef.RateLimitLimitedTotal, pol.name, metricdef.LabelLimit, lc.Name)),
		}
		if lc.Scope == config.ScopeGlobal {
			s.global = append(s.global, l)
			if s.globalNames != "" {
				s.globalNames += ", "
			}
			s.globalNames += strconv.Quote(lc.Name)
			if rc.Service.FailureMode != config.FailLocal {
				continue
			}
			// failure_mode local: the limit's own parameters decide when the service cannot.
		}
		// Normalized by config.Parse; the limiter uses them as given.
		l.settings = lc.Settings
		recovery := lc.Settings.Recovery()
		if lc.Tier != nil {
			tiered = true
			l.tiers = lc.Tier.Limits
			for _, ts := range l.tiers {
				recovery = max(recovery, ts.Recovery())
			}
		}
		// A state is replaced by another key only once back at full
		// capacity under every tier's settings.
		l.lim = ratelimit.NewKeyedLimiter(pol.prefix+"/rl/"+lc.Name, lc.MaxKeys, p.hashKey, recovery)
		// The default tier's settings and the named tiers' (in document
		// order, up to ratelimit.MaxPrecompiled in all) are validated once,
		// not on every request.
		l.lim.Precompile(lc.Settings)
		if lc.Tier != nil {
			for _, name := range lc.Tier.Names {
				l.lim.Precompile(l.tiers[name])
			}
		}
		if lc.Scope != config.ScopeGlobal {
			s.limits = append(s.limits, l)
			// Worker leases (patterns/ratelimit doc.go): a limit that
			// never leases (Leasable false for every tier) allocates none.
			l.lim.SetLeases(leaseCapacity(lc))
			l.lz = l.lim.Leases()
			s.leased = append(s.leased, l.lim)
		}
	}
	if len(s.leased) > 0 {
		pol.ticks = append(pol.ticks, s.expireLeases)
	}
	s.checks = make([]ratelimit.Check, max(len(s.limits), len(s.global)))
	s.fast = len(s.global) == 0 && len(s.limits) > 0 && len(s.limits) <= rlKeptLen && !tiered
	return s, nil
}

// onRequest admits the request from this worker's leases when every limit
// has one that admits it (no store operation: ratelimit.Leases.Hit, then
// Use, as ratelimit.AllowAllInto decides), keeping the checks for
// the undo in the stream block and the RateLimit-* headers of the most
// restrictive limit; otherwise, with nothing changed, admit decides (then
// the service and the shaping delay, when the stage has them). This
// takes a fast stage and the request's first admission. One pass: a
// limit's lease is used as soon as it hits, and given back (Leases.Unuse)
// when a later limit has none.
func (s *rateLimitStage) onRequest(h *httpContext, now time.Time) verdict {
	if s.fast && !h.rlUsed && h.b != nil {
		t := ratelimit.Instant(now)
		b := h.b
		ls := s.limits // at most rlKeptLen (fast)
		// The most restrictive so far, as ratelimit's pick: the fewest
		// remaining, ties to the longest reset (the latest reset instant,
		// no earlier than t), then the first: scalars, no Decision.
		var bestLim, bestRem, bestAt int64
		var slots [rlKeptLen]int
		// The last stage keeps no checks: nothing after it can reject the
		// request (run drops the undo records once every stage passed).
		keep := int(h.step) < len(h.pol.stages)-1
		for i, l := range ls {
			// The key: the cache's entry of a header's value (headerEntry,
			// inlined, with the slot it keeps, checked with Holds), the last
			// key again for the same path (keyOf's first test), "" without
			// parts, else keyOf (which also fills the cache's entry).
			var key string
			var ce *keyEntry
			k := -1
			lz := l.lz
			var x, y string // the values compared, the key's when equal
			var xk string   // (known when != "")
			switch l.kind {
			case keyHeader:
				var v string
				if j := int(l.hslot); h.req.tab != nil && uint(j) < uint(h.req.tabN) {
					v = h.req.vals[j&(hdrSlots-1)].s // requestInfo.header, inlined
				} else {
					v, _ = h.req.header(l.cfg.Key[0].Arg)
				}
				if c := l.keys; c != nil && len(v) <= keyCacheLen {
					// keyHash(v), inlined for 4 to 16 bytes.
					var hv uint32
					if n := len(v); n >= 4 && n <= 16 {
						p := unsafe.Pointer(unsafe.StringData(v))
						if n >= 8 {
							w0, w1 := *(*uint64)(p), *(*uint64)(unsafe.Add(p, n-8))
							if n == 8 {
								w0 <<= 8
							}
							hv = mixWords(w0*hashK0^w1<<8*hashK1^uint64(n)) ^ uint32(w1>>56)
						} else {
							w0, w1 := uint64(*(*uint32)(p)), uint64(*(*uint32)(unsafe.Add(p, n-4)))
							if n == 4 {
								w0 &= 0xffffff
							}
							hv = mixWords(w0*hashK0^(w1<<8&0xffffffff)*hashK1^uint64(n)) ^ uint32(w1>>24)
						}
					} else {
						hv = keyHash(v)
					}
					ce = &c[hv%keyCacheSize]
					x, y, xk = ce.val, v, ce.key
				}
			case keyPath:
				x, y, xk = l.lastVal, h.req.path, l.lastKey
			}
			if n := len(x); xk != "" && n == len(y) {
				// x == y: two words compared for 4 to 16 bytes (streq.Words
				// otherwise).
				pa, pb := unsafe.Pointer(unsafe.StringData(x)), unsafe.Pointer(unsafe.StringData(y))
				var eq bool
				switch {
				case n >= 8 && n <= 16:
					eq = *(*uint64)(pa) == *(*uint64)(pb) && *(*uint64)(unsafe.Add(pa, n-8)) == *(*uint64)(unsafe.Add(pb, n-8))
				case n >= 4 && n < 8:
					eq = *(*uint32)(pa) == *(*uint32)(pb) && *(*uint32)(unsafe.Add(pa, n-4)) == *(*uint32)(unsafe.Add(pb, n-4))
				default:
					eq = streq.Words(x, y)
				}
				if eq {
					key = xk
					if ce != nil && lz.Holds(ce.slot, key) {
						k = ce.slot
					}
				}
			}
			if key == "" && l.kind != keyNone {
				key = l.keyOf(&h.req) // a key is never "" with parts
			}
			if k < 0 {
				k = lz.Last(key)
			}
			if k < 0 || !lz.Usable(k, &l.settings, t) {
				k = lz.Hit(key, &l.settings, t)
				if ce != nil && k >= 0 {
					ce.slot = k
				}
			}
			if k < 0 {
				for j := i - 1; j >= 0; j-- {
					ls[j].lz.Unuse(slots[j])
					b.rlKept[j].Key = ""
				}
				goto store
			}
			slots[i] = k
			rem, at := lz.Take(k)
			at = max(at, t)
			if i == 0 || rem < bestRem || rem == bestRem && at > bestAt {
				bestLim, bestRem, bestAt = lz.LimitAt(k), rem, at
			}
			if keep {
				c := &b.rlKept[i]
				if c.Limiter != l.lim {
					// The block's checks keep their limiter and settings from
					// stream to stream (OnHttpStreamDone leaves them).
					c.Limiter, c.Settings = l.lim, l.settings
				}
				c.Key = key
			}
		}
		if keep {
			h.rlUsed, b.rlHold = true, s // the undo (rollback)
		}
		if s.headers {
			s.keepRateValues(h, bestLim, bestRem, time.Duration(bestAt-t))
		}
		return pass
	}
store:
	delay, v := s.admit(h, now, s.limits)
	if v != pass {
		return v
	}
	if len(s.global) > 0 {
		return s.callService(h, now, delay)
	}
	return s.shape(h, now, delay)
}

// keepUndo records the refund of checks, for a later stage's rejection.
//
//go:noinline
func (s *rateLimitStage) keepUndo(h *httpContext, checks []ratelimit.Check) {
	h.undo = append(h.undo, holdRec{kind: holdRefund, rl: s, checks: checks})
}

// admit applies the local limits ls (all or nothing), keeps the headers of
// the most restrictive one and returns the longest delay asked (a
// leaky_bucket's).
func (s *rateLimitStage) admit(h *httpContext, now time.Time, ls []*limitRT) (time.Duration, verdict) {
	if len(ls) == 0 {
		return 0, pass
	}
	// The checks are built where the undo record keeps them: the stream
	// block's array on the request's first admission (no copy), else the
	// stage's, copied below.
	own := !h.rlUsed && h.b != nil && len(ls) <= len(h.b.rlKept)
	var checks []ratelimit.Check
	if own {
		checks, h.rlUsed = h.b.rlKept[:len(ls)], true
		h.b.rlHold = nil // the undo record below refunds them
	} else {
		checks = s.checks[:len(ls)]
	}
	for i, l := range ls {
		c := &checks[i]
		c.Limiter, c.Key, c.Settings = l.lim, l.keyOf(&h.req), l.settings
		if l.tiers != nil {
			if ts, ok := l.tiers[h.req.part(l.cfg.Tier.From)]; ok {
				c.Settings = ts
			}
		}
	}
	res, err := ratelimit.AllowAllInto(&s.bufs, s.p.st, now, 1, checks)
	if err != nil {
		// Shared data failed or stayed contended: fail open, say so.
		logLimited("breakwater: %s: rate limit state unavailable, request admitted: %v", h.pol.name, err)
		return 0, pass
	}
	if !res.Allowed {
		d := res.Decisions[res.Deciding]
		ls[res.Deciding].limited.inc(1)
		return 0, s.rejectWith(h, now, rlHeaders(d), d.RetryAfter)
	}
	kept := checks
	if !own { // a second admission of the request (the service's local fallback)
		kept = append([]ratelimit.Check(nil), checks...)
	}
	s.keepUndo(h, kept)
	if s.headers {
		s.keepRateHeaders(h, &res.Decisions[res.Deciding])
	}
	return res.Delay, pass
}

// keepRateHeaders keeps d's RateLimit-* headers for the response when d is
// the most restrictive decision seen so far for the request (fewest
// remaining), in the stream block (no slice allocated).
func (s *rateLimitStage) keepRateHeaders(h *httpContext, d *ratelimit.Decision) {
	if h.respHeaders != nil && remainingOf(h.respHeaders) <= max(d.Remaining, 0) {
		return
	}
	if h.b == nil {
		h.respHeaders = rlHeaders(*d)
		return
	}
	s.keepRateValues(h, d.Limit, d.Remaining, d.Reset)
}

// keepRateValues keeps the RateLimit-* headers of a decision's Limit,
// Remaining and Reset for the response, in the stream block (no slice
// allocated): keepRateHeaders' write, and the fast pass's, which has
// these values without a Decision and keeps no headers before.
func (s *rateLimitStage) keepRateValues(h *httpContext, limit, remaining int64, reset time.Duration) {
	b := h.b
	// The names stay in the block (set once); the values are this
	// request's.
	hd := &b.rlHdr
	if hd[0][0] == "" {
		hd[0][0], hd[1][0], hd[2][0] = "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"
	}
	if limit != s.limitNum || s.limitStr == "" {
		s.setLimit(limit)
	}
	hd[0][1] = s.limitStr
	h.respHeaders = hd[:]
	// The values' digits are written where the block's encoding has them
	// (the names, x-breakwater-policy's pair and the limit's value before
	// them are the stage's rlPre, copied when another stage or limit wrote
	// the block last; without rlPre, too long for the block, the headers
	// go as pairs, their digits at the block's start).
	w := &b.rlw
	pre := s.rlPre
	d := unsafe.Pointer(&w.data[0])
	if len(w.pre) != len(pre) || unsafe.StringData(w.pre) != unsafe.StringData(pre) {
		if pre != "" {
			memmove(d, unsafe.Pointer(unsafe.StringData(pre)), uintptr(len(pre)))
			sz := (*[rlWirePairs * 2]uint32)(unsafe.Pointer(&w.sizes[0]))
			sz[0], sz[1] = uint32(len("x-breakwater-policy")), uint32(len(h.pol.name))
			sz[2], sz[3] = uint32(len("ratelimit-limit")), uint32(len(s.limitStr))
			sz[4], sz[6] = uint32(len("ratelimit-remaining")), uint32(len("ratelimit-reset"))
		}
		w.pre = pre
	}
	// Within data: len(pre) <= rlPreMax leaves room for 20 digits, the
	// reset's name between NULs, 20 digits and a NUL.
	off := uintptr(len(pre))
	nr := putDigits(unsafe.Add(d, off), uint64(max(remaining, 0)))
	hd[1][1] = numAt(unsafe.Add(d, off), nr)
	p := unsafe.Add(d, off+nr)
	*(*uint64)(p) = rlResetWord0
	*(*uint64)(unsafe.Add(p, 8)) = rlResetWord1
	*(*byte)(unsafe.Add(p, 16)) = 0
	p = unsafe.Add(p, 17)
	ns := uintptr(1)
	if secs := ceilSecs(reset); secs < 10 { // mostly: a window or a lease of seconds
		*(*byte)(p) = byte('0' + secs)
	} else {
		ns = putDigits(p, secs)
	}
	hd[2][1] = numAt(p, ns)
	*(*byte)(unsafe.Add(p, ns)) = 0
	w.n = off + nr + 17 + ns + 1
	sz := (*[rlWirePairs * 2]uint32)(unsafe.Pointer(&w.sizes[0]))
	sz[5], sz[7] = uint32(nr), uint32(ns)
}

// ceilSecs is d in whole seconds, rounded up (0 for d <= 0), as
// ceilSeconds: an unsigned division by a variable, one instruction in the
// .wasm build (a signed one calls the runtime).
func ceilSecs(d time.Duration) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d+time.Second-1) / useconds
}

// useconds is time.Second as an unsigned variable (see hundred).
var useconds = uint64(time.Second)

// setLimit makes n the stage's last RateLimit-Limit value (limitNum,
// limitStr) and builds rlPre for it.
func (s *rateLimitStage) setLimit(n int64) {
	s.limitNum, s.limitStr = n, strconv.FormatInt(n, 10)
	s.rlPre = s.pol.respPre + "ratelimit-limit\x00" + s.limitStr + "\x00ratelimit-remaining\x00"
	if len(s.rlPre) > rlPreMax {
		s.rlPre = ""
	}
}

// rlWire is a stream block's RateLimit-* headers encoded for the write of
// the response's headers (encodeWireBlock), x-breakwater-policy's pair
// first: four pairs, their length words (sizes) and their data (each key
// and value followed by a NUL; n bytes). pre is the stage's rlPre data
// starts with ("" when the block holds nothing).
type rlWire struct {
	_     [0]func() // not comparable: no equality function in the binary
	sizes [rlWirePairs * 8]byte
	data  [rlWireLen]byte
	n     uintptr
	pre   string
}

// The block's size: rlPreMax bytes of names, the policy's name and the
// limit's value, then room for two values of 20 digits and the reset's
// name (17 bytes with its NULs) and a NUL.
const (
	rlWirePairs = 4
	rlWireLen   = 256
	rlPreMax    = rlWireLen - 20 - 17 - 20 - 1
)

// rlResetWord0 and rlResetWord1 are "\x00ratelimit-reset\x00"'s first 16
// bytes as little-endian words (its last byte is a NUL).
const (
	rlResetWord0 = 0x6d696c6574617200 // "\x00ratelim"
	rlResetWord1 = 0x74657365722d7469 // "it-reset"
)

// wireBlock is the encoding of h's RateLimit-* headers (with
// x-breakwater-policy's pair first) for encodeWireBlock when its stream
// block holds them for the headers it adds to the response (h.respHeaders
// is the block's), else nil.
func (h *httpContext) wireBlock() *rlWire {
	if b := h.b; b != nil && b.rlw.pre != "" && len(h.respHeaders) == len(b.rlHdr) && &h.respHeaders[0] == &b.rlHdr[0] {
		return &b.rlw
	}
	return nil
}

// putDigits writes v in decimal at p (at most 20 bytes) and returns how
// many: the digits are counted first (from the bit length, one
// instruction in the .wasm build), then written two a step from the last
// (two a step, as strconv; below 2^32 with 32-bit arithmetic, whose division by the
// constant 100 is a multiplication in the .wasm build), without bounds
// checks or calls.
func putDigits(p unsafe.Pointer, v uint64) uintptr {
	t := uintptr(bits.Len64(v) * 1233 >> 12) // log10 from log2: t or t-1
	n := t + 1
	if t < 20 && v < pow10[t] {
		n = max(t, 1)
	}
	dp := unsafe.Pointer(unsafe.StringData(digitPairs))
	i := n
	for v >= 1<<32 {
		q := v / hundred
		j := uintptr(v-q*100) * 2
		v = q
		i -= 2
		*(*uint16)(unsafe.Add(p, i)) = *(*uint16)(unsafe.Add(dp, j))
	}
	u := uint32(v)
	for u >= 100 {
		q := u / 100
		j := uintptr(u-q*100) * 2
		u = q
		i -= 2
		*(*uint16)(unsafe.Add(p, i)) = *(*uint16)(unsafe.Add(dp, j))
	}
	if u >= 10 {
		*(*uint16)(p) = *(*uint16)(unsafe.Add(dp, uintptr(u)*2))
	} else {
		*(*byte)(p) = byte('0' + u)
	}
	return n
}

// pow10[i] is 10^i for i in [0, 19].
var pow10 = [20]uint64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

func (s *rateLimitStage) rejectWith(h *httpContext, now time.Time, hdrs [][2]string, retryAfter time.Duration) verdict {
	var extra [][2]string
	if s.headers {
		extra = append(hdrs, [2]string{"retry-after", ceilSeconds(max(retryAfter, time.Second))})
	}
	return h.reject(now, config.ReasonRateLimited, extra)
}

// shape pauses a request that leaky_bucket delays; the tick resumes it.
func (s *rateLimitStage) shape(h *httpContext, now time.Time, delay time.Duration) verdict {
	if delay > 0 {
		s.p.wait(h, now.Add(delay))
		return wait
	}
	return pass
}

// rlHeaders are the RateLimit-* headers of a decision.
func rlHeaders(d ratelimit.Decision) [][2]string {
	return [][2]string{
		{"ratelimit-limit", strconv.FormatInt(d.Limit, 10)},
		{"ratelimit-remaining", strconv.FormatInt(max(d.Remaining, 0), 10)},
		{"ratelimit-reset", ceilSeconds(d.Reset)},
	}
}

// formatNum is strconv.FormatInt(v, 10) for v >= 0, its digits written at
// the start of dst (putDigits) and viewed (numString) without a string
// allocated in the .wasm build.
func formatNum(dst *[20]byte, v int64) string {
	n := putDigits(unsafe.Pointer(&dst[0]), uint64(v))
	return numString(dst[:n])
}

// hundred is 100 as a variable: the compiler turns a division by the
// constant into a multiplication by its inverse, which the .wasm build
// computes with a dozen instructions for the 128-bit product, where a
// division by a variable is one instruction.
var hundred uint64 = 100

// digitPairs are "00" to "99", for putDigits.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// setRateHeaders keeps the RateLimit-* headers of the most restrictive limit
// seen so far for the request (fewest remaining).
func (h *httpContext) setRateHeaders(hs [][2]string) {
	if h.respHeaders != nil && remainingOf(h.respHeaders) <= remainingOf(hs) {
		return
	}
	h.respHeaders = hs
}

func remainingOf(hs [][2]string) int64 {
	for _, kv := range hs {
		if kv[0] == "ratelimit-remaining" {
			n, _ := strconv.ParseInt(kv[1], 10, 64)
			return n
		}
	}
	return 1 << 62
}
