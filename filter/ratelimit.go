package filter

import (
	"strconv"
	"time"

	"github.com/breakwater/breakwater/filter/config"
	"github.com/breakwater/breakwater/internal/metricdef"
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
	headers  bool
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
}

// leaseKeys bounds the keys a local limit holds leases for, per VM.
const leaseKeys = 256

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
// data.
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
	// lastVal/lastKey: for a one-part key, the last request's value of the
	// part and its key (lastVal is a substring of lastKey, so no header
	// view is kept); keyOf builds a key again only for another value.
	lastVal, lastKey string
	// keys caches the keys of recent values of a one-part key (allocated
	// with the first one).
	keys *keyCache
}

// keyCache holds the keys of recent values of a one-part key, direct-mapped
// by a hash of the value: at most keyCacheSize values of at most
// keyCacheLen bytes, each a substring of its key (no header view is kept).
type keyCache [keyCacheSize]keyEntry

// keyEntry is one value of a keyCache and its key.
type keyEntry struct {
	_        [0]func() // not comparable: no equality function in the binary
	val, key string
}

// The bounds of a limit's cache of keys (limitRT.keys), per VM.
const (
	keyCacheSize = 256
	keyCacheLen  = 128
)

// keyOf is r.key(l.cfg.Key), built again for a one-part key only when the
// part's value is neither the last request's nor in the cache of keys. A key
// is always a string of its own (never a view of the request's headers):
// the limiter's leases keep the last one (ratelimit.Limiter.SetLeases).
func (l *limitRT) keyOf(r *requestInfo) string {
	if len(l.cfg.Key) != 1 {
		return r.key(l.cfg.Key)
	}
	v := r.part(l.cfg.Key[0])
	if l.lastKey != "" && v == l.lastVal {
		return l.lastKey
	}
	var c *keyEntry
	if len(v) <= keyCacheLen {
		if l.keys == nil {
			l.keys = new(keyCache)
		}
		h := uint32(2166136261) // FNV-1a: a client that collides only misses the cache
		for i := 0; i < len(v); i++ {
			h = (h ^ uint32(v[i])) * 16777619
		}
		c = &l.keys[h%keyCacheSize]
		if c.key != "" && c.val == v {
			l.lastKey, l.lastVal = c.key, c.val
			return c.key
		}
	}
	k := config.BuildKey(l.cfg.Key, func(config.KeyPart) string { return v })
	l.lastKey = k
	l.lastVal = k[len(k)-1-len(v) : len(k)-1] // "<len>:<v>,"
	if c != nil {
		c.val, c.key = l.lastVal, k
	}
	return k
}

func newRateLimitStage(p *pluginContext, ns string, pol *policy, rc *config.RateLimit) (*rateLimitStage, error) {
	s := &rateLimitStage{p: p, pol: pol, headers: rc.Headers, svc: rc.Service}
	if rc.Service != nil {
		s.callTimeout = uint32(max(rc.Service.Timeout/time.Millisecond, 1))
		s.svcFailures = p.m.counter(metricdef.Name(ns, metricdef.RateLimitServiceFailuresTotal, pol.name))
	}
	for _, lc := range rc.Limits {
		l := &limitRT{
			cfg:     lc,
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
		l.lim = ratelimit.NewLimiter(pol.prefix+"/rl/"+lc.Name, lc.MaxKeys)
		l.lim.SetHashKey(p.hashKey)
		l.settings = lc.Settings
		recovery := lc.Settings.Recovery()
		if lc.Tier != nil {
			l.tiers = lc.Tier.Limits
			for _, ts := range l.tiers {
				recovery = max(recovery, ts.Recovery())
			}
		}
		// A state is replaced by another key only once back at full
		// capacity under every tier's settings.
		l.lim.SetRecovery(recovery)
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
			l.lim.SetLeases(leaseKeys)
			s.leased = append(s.leased, l.lim)
		}
	}
	if len(s.leased) > 0 {
		pol.ticks = append(pol.ticks, s.expireLeases)
	}
	s.checks = make([]ratelimit.Check, max(len(s.limits), len(s.global)))
	return s, nil
}

func (s *rateLimitStage) onRequest(h *httpContext, now time.Time) verdict {
	res, v := s.admit(h, now, s.limits)
	if v != pass {
		return v
	}
	if len(s.global) > 0 {
		return s.callService(h, now, res.Delay)
	}
	return s.shape(h, now, res.Delay)
}

// admit applies the local limits ls (all or nothing) and keeps the headers
// of the most restrictive one.  The Result's Decisions are the stage's reused
// buffer: callers read only its other fields.
func (s *rateLimitStage) admit(h *httpContext, now time.Time, ls []*limitRT) (ratelimit.Result, verdict) {
	if len(ls) == 0 {
		return ratelimit.Result{Allowed: true}, pass
	}
	// The checks are built where the undo record keeps them: the stream
	// block's array on the request's first admission (no copy), else the
	// stage's, copied below.
	own := !h.rlUsed && h.b != nil && len(ls) <= len(h.b.rlKept)
	var checks []ratelimit.Check
	if own {
		checks, h.rlUsed = h.b.rlKept[:len(ls)], true
	} else {
		checks = s.checks[:len(ls)]
	}
	for i, l := range ls {
		st := l.settings
		if l.tiers != nil {
			if ts, ok := l.tiers[h.req.part(l.cfg.Tier.From)]; ok {
				st = ts
			}
		}
		checks[i] = ratelimit.Check{Limiter: l.lim, Key: l.keyOf(&h.req), Settings: st}
	}
	res, err := ratelimit.AllowAllInto(&s.bufs, s.p.st, now, 1, checks)
	if err != nil {
		// Shared data failed or stayed contended: fail open, say so.
		logLimited("breakwater: %s: rate limit state unavailable, request admitted: %v", h.pol.name, err)
		return ratelimit.Result{Allowed: true}, pass
	}
	if !res.Allowed {
		d := res.Decisions[res.Deciding]
		ls[res.Deciding].limited.inc(1)
		return res, s.rejectWith(h, now, rlHeaders(d), d.RetryAfter)
	}
	kept := checks
	if !own { // a second admission of the request (the service's local fallback)
		kept = append([]ratelimit.Check(nil), checks...)
	}
	h.undo = append(h.undo, holdRec{kind: holdRefund, rl: s, checks: kept})
	if s.headers && len(res.Decisions) > 0 {
		// setRateHeaders, kept in the stream context (no slice allocated).
		d := res.Decisions[res.Deciding]
		if h.respHeaders == nil || remainingOf(h.respHeaders) > max(d.Remaining, 0) {
			if h.b != nil {
				b := h.b
				b.rlHdr = [3][2]string{
					{"ratelimit-limit", s.limitString(d.Limit)},
					{"ratelimit-remaining", formatNum(&b.rlNum[0], max(d.Remaining, 0))},
					{"ratelimit-reset", ceilSecondsInto(&b.rlNum[1], d.Reset)},
				}
				h.respHeaders = b.rlHdr[:]
			} else {
				h.respHeaders = rlHeaders(d)
			}
		}
	}
	return res, pass
}

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

// formatNum is strconv.FormatInt(v, 10) for v >= 0: strconv's own string
// below 100, else written into dst, a stream block's (streamBufs.rlNum),
// and viewed (numString) without a string allocated in the .wasm build.
func formatNum(dst *[20]byte, v int64) string {
	if v < 100 {
		return strconv.FormatInt(v, 10)
	}
	i := len(dst)
	u := uint64(v)
	for u >= 100 { // two digits a step, as strconv does
		j := u % 100 * 2
		u /= 100
		i -= 2
		dst[i], dst[i+1] = digitPairs[j], digitPairs[j+1]
	}
	j := u * 2 // u in [1, 99]
	i--
	dst[i] = digitPairs[j+1]
	if u >= 10 {
		i--
		dst[i] = digitPairs[j]
	}
	return numString(dst[i:])
}

// digitPairs are "00" to "99", for formatNum.
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

// ceilSecondsInto is ceilSeconds(d) formatted by formatNum into dst.
func ceilSecondsInto(dst *[20]byte, d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return formatNum(dst, int64((d+time.Second-1)/time.Second))
}

// limitString is strconv.FormatInt(n, 10), formatted again only when n is
// not the last value asked.
func (s *rateLimitStage) limitString(n int64) string {
	if s.limitStr == "" || s.limitNum != n {
		s.limitNum, s.limitStr = n, strconv.FormatInt(n, 10)
	}
	return s.limitStr
}

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
