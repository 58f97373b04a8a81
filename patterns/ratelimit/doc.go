// Package ratelimit holds the five admission rules of Breakwater's
// rate_limit block (docs/configuration.md): token_bucket, gcra, fixed_window,
// sliding_window and leaky_bucket, as pure functions over a compact encoded
// state, plus a store-backed Limiter that keeps one state per key in a
// bounded store.Table, and AllowAll for multi-level limits.
//
// Time is always passed in (now time.Time); the package never reads the
// clock and draws no randomness. Instants are taken as int64 nanoseconds
// since the Unix epoch, clamped to [0, 2^62] (1970 to early 2116).
//
// # Settings and zero values
//
// Settings{Algorithm, Requests, Per, Burst, MaxDelay}; Normalize is the one
// place of defaults and validation. The zero Algorithm is TokenBucket.
// Requests must be in [1, 2^62] and Per in (0, MaxSpan]; Burst 0 means
// Requests (bucket algorithms) and is the only value the window algorithms
// accept besides Requests itself; MaxDelay must be 0 except for leaky_bucket
// (where 0 means no shaping); Burst×Per/Requests, the time to refill an empty
// bucket, must be at most MaxSpan (2^60 ns, about 36.5 years). These bounds
// keep all arithmetic within int64 without overflow. Decide on invalid
// settings rejects with RetryAfter Never; Limiter methods return the
// Normalize error. A Limiter validates and derives the settings of every
// call; Precompile (before use) does it once for up to MaxPrecompiled
// settings (the filter: the default tier and the named tiers), found again by
// equality: the same decisions, less work per call.
//
// Notation: R = Requests, P = Per, B = Burst, n = the size of the request
// (n < 0 counts as 0; n = 0 is a peek that never writes), t = now.
// T = P/R is the emission interval, a rational number of nanoseconds: every
// bucket computation is exact (128-bit intermediate products, instants kept
// as whole nanoseconds plus a remainder over R), so there is no drift and no
// float rounding anywhere. Durations reported in a Decision (Reset,
// RetryAfter, Delay) are rounded UP to the nanosecond.
//
// # token_bucket
//
// A bucket of capacity B refilled continuously at R per P. The state is the
// count w of whole tokens at a virtual instant last (a fraction of a token
// in progress is the time elapsed since last). At t, the whole tokens
// earned, k = floor((t − last)/T), are added; if w + k >= B the bucket is
// full: w = B and last = t (the fraction is dropped, as tokens beyond the
// capacity are). Then:
//
//	admit n  <=>  n <= B  and  n <= w           (then w -= n)
//
// which is exactly "tokens(t) >= n" for the real-valued token count
// tokens(t) = min(B, w + (t − last)/T), since n is whole. This is the
// rule of golang.org/x/time/rate's Limiter.AllowN(t, n) with Limit R/P and
// burst B; bench/ratelimit compares them decision by decision (equal on
// 200,000 random decisions). Differences: x/time computes in float64 and
// truncates the wait to whole nanoseconds, so it admits a request that is
// short of its tokens by up to 1 ns worth of refill, where this package
// (exact) rejects it with RetryAfter 1ns; probing that exact instant on
// purpose shows it (bench/ratelimit's boundary test). And with a clock that
// goes backwards x/time moves its last update time back (crediting the same
// time twice), where this package credits nothing for t < last.
// Limit = B, Remaining = w after the request, Reset = last + (B − w)×T − t
// (0 when full), RetryAfter = last + (n − w)×T − t (Never when n > B).
//
// # gcra
//
// The generic cell rate algorithm, one timestamp of state: tat, the
// theoretical arrival time, which is the instant at which the bucket is full
// again. With tat' = max(tat, t):
//
//	admit n  <=>  tat' + n×T − t <= B×T        (then tat = tat' + n×T)
//
// (the usual tolerance tau = (B−1)×T: tat' + (n−1)×T − t <= tau). This is
// the same admission as token_bucket (tokens(t) = B − (tat' − t)/T), decision
// for decision, with the same header values: the property tests check it.
// What differs is how a state carries over when the settings change (a key
// changing tier): token_bucket carries the token count (clamped to the new
// B), gcra carries tat, a time (the debt in time is kept, and read at the
// new T). Remaining = floor(B − (tat − t)/T) after the request, Reset =
// tat − t, RetryAfter = tat' + n×T − B×T − t (Never when n > B).
//
// # fixed_window
//
// Windows [k×P, (k+1)×P) aligned on multiples of P since the epoch, one
// counter each. The state is the end of the counted window and its count c.
// At t, with the current window [s, s+P): if end <= s the count is 0 (a new
// window); otherwise the count carries over and end becomes max(end, s+P)
// (it is only > s+P after a tier switch to a shorter per, or for a t behind
// the state's: both conservative).
//
//	admit n  <=>  c + n <= R                    (then c += n)
//
// At most R per aligned window, so up to 2R in a window of length P that
// straddles a boundary (the burst sliding_window avoids). Limit = R,
// Remaining = R − c, Reset = end − t (0 when c = 0), RetryAfter = end − t
// (Never when n > R).
//
// # sliding_window
//
// Exact guarantee, conservative counting. Per is split into SubWindows (10)
// sub-windows of s = ceil(P/10) ns, aligned on multiples of s since the
// epoch. The state keeps one counter per sub-window for the current one and
// the 10 before it (11 counters). With b = floor(t/s)×s the start of the
// current sub-window, the counted span is [b − 10×s, t]:
//
//	admit n  <=>  admitted([b − 10s, t]) + n <= R   (then the current counter += n)
//
// Guarantee: at most R requests are admitted in ANY window [a, a+P) of
// length P. Proof: let t be the last admission inside it; every other one
// lies in [a, t] with t − a < P <= 10×s, so in a sub-window at most 10
// before t's, all of them counted when t was admitted, and that count was
// <= R. No approximation: the bound is exact (the property test checks it
// against a brute-force count over every window).
//
// Cost: the counted span is longer than P, by less than s + 10 ns: it always
// lies within (t − P − s − 10ns, t]. So a request is rejected only if the
// requests admitted in (t − P − s − 10ns, t] plus n exceed R; an exact
// sliding window (counting (t−P, t]) would have admitted it when those
// extra requests fall in (t − P − s − 10ns, t − P]: false rejections, in a
// slice of at most P/10 (+10 ns) before the window. Under sustained
// saturation this admits R per 11 sub-windows, i.e. at least R×10/11
// (about 91%) of R per P; with traffic that never has more than R − n
// requests in a span of P + s + 10ns, it never rejects. Unlike the common
// two-window weighted estimate, it never admits more than R in a window.
// Limit = R, Remaining = R − counted after the request, Reset = until the
// newest non-empty sub-window stops counting (its start + 11×s), RetryAfter
// = until enough of the oldest sub-windows stop counting for n to fit (Never
// when n > R).
//
// # leaky_bucket
//
// Shaping by virtual scheduling (the leaky bucket as a queue). The state is
// the same tat as gcra. Requests leave ("depart") at most B at once and then
// one every T: with tat' = max(tat, t), the request's departure is
// depart = tat' + n×T − B×T, and
//
//	admit n  <=>  depart <= t + MaxDelay        (then tat = tat' + n×T)
//	Delay = max(0, depart − t)                  (<= MaxDelay)
//
// Burst here is the queue-free allowance: B requests arriving together all
// leave at once (Delay 0), the next ones are spaced T apart. Burst defaults
// to Requests like every bucket; set burst 1 for strictly spaced departures.
// The departure stream conforms to a token bucket (B, R/P): in any interval
// [x, y] of departure instants at most B + (y − x)/T requests depart, and
// departures keep the order of arrivals (tests check both). With MaxDelay 0
// it is gcra. Limit = B, Remaining = requests that could still leave without
// delay after this one, Reset = tat − t, RetryAfter = depart − MaxDelay − t
// (Never when (n − B)×T > MaxDelay).
//
// # Refund
//
// Refund(n) at t gives back n requests admitted at about t: token_bucket adds
// n tokens (capped at B); gcra and leaky_bucket move tat back by n×T, not
// before t; the windows subtract n from the counter of the current window
// (fixed) or from the newest non-empty sub-windows (sliding), never below 0,
// and only while the window they were admitted in is still counted. A
// refund of a fresh key, a full bucket or a rolled window writes nothing.
// Refunding the request admitted last is an exact inverse (tests check it).
// For leaky_bucket, refunding a request that is NOT the last one queued (a
// paused request whose stream was reset) frees the LAST departure slot: the
// refunded request's own slot stays empty and the next request departs at
// the end of the queue, so over any interval containing that slot one more
// request than B + (y − x)/T may depart (one per such refund); the long-run
// rate is kept.
//
// # Tiers
//
// The caller picks the Settings per request (the tier of the request); the
// state of a key is interpreted under whatever Settings come with it, so a
// key that changes tier keeps a meaningful state:
//   - token_bucket keeps its whole tokens (clamped to the new burst) and
//     refills at the new rate from last;
//   - gcra, leaky_bucket keep tat, a time: the debt (tat − t) is read at the
//     new T (an upgrade may still wait up to the old B×T minus the new one);
//   - fixed_window keeps its count while the stored window overlaps the new
//     current window (extending end if longer); otherwise starts at 0;
//   - sliding_window with the same sub-window length keeps its counters;
//     with another one, every old sub-window that may overlap the new counted
//     span is merged into the newest new sub-window (conservative).
//
// The sub-nanosecond remainder of an instant (over the old R) is read over
// the new R, and rounded up to the next nanosecond when it does not fit: an
// error below 1 ns of refill, in the conservative direction.
//
// # State layout
//
// Every state is byte 0, a tag = 0x10 | algorithm (version 1 in the high
// nibble: 0x10 token_bucket, 0x11 gcra, 0x12 fixed_window, 0x13
// sliding_window, 0x14 leaky_bucket), then bytes 1..8, an int64 instant in
// nanoseconds since the epoch, little-endian, then unsigned LEB128 varints
// (encoding/binary.AppendUvarint):
//
//	token_bucket   [0]=0x10 [1..8] last.ns  uvarint last.rem (< R)  uvarint w (whole tokens)
//	gcra           [0]=0x11 [1..8] tat.ns   uvarint tat.rem (< R)
//	fixed_window   [0]=0x12 [1..8] end      uvarint count
//	sliding_window [0]=0x13 [1..8] start    uvarint s  uvarint c0 ... uvarint ck
//	leaky_bucket   [0]=0x14 [1..8] tat.ns   uvarint tat.rem (< R)
//
// where an instant with a remainder is ns + rem/R nanoseconds; start is the
// start of the newest sub-window, c0 its count, ci the count of the
// sub-window i before it (k <= 10, trailing zero counters omitted). Sizes:
// 10 to 18 bytes for gcra, leaky_bucket and fixed_window, 11 to 27 for
// token_bucket (usually 10 to 13 bytes); sliding_window 10 + the varint of s
// + up to 11 counters (a counter below 128 is one byte, below 16384 two).
//
// Corrupt states: a state with the wrong tag (another algorithm, another
// version), a truncated or over-long encoding, an instant outside
// [0, 2^62 + 2^61] or a count above 2^62 is read as a fresh state (a full
// bucket, an empty window); it never makes Decide fail or panic (FuzzDecide).
// A fresh state admits as a new key does; nothing is written on rejection.
//
// # Limiter, keys and memory
//
// A Limiter keeps the states of one limit in a store.Table under its
// prefix: at most max_keys entries (rounded up to a multiple of 4), in at
// most ceil(max_keys/4) store keys, whatever the number of distinct key
// values, plus one overflow state.
//
// Idle and overflow: a key hashes to one set of 4 (keyed by the table's
// secret). A state is idle at now when the limiter's recovery time
// (SetRecovery: the filter gives the largest Settings.Recovery of the
// limit's tiers: the refill time of a bucket, one window, two sliding
// windows) has passed since
// its last write: by then any state of the limit is back at full capacity,
// so replacing it loses nothing a fresh state would not give. A new key in
// a set whose four states are all live is decided by the overflow state:
// one state with the limit's own parameters (the request's tier) shared by
// every overflowing key. It admits at most what one key would, for all of
// them together; it is safe because no live state is ever replaced (an
// exhausted key stays exhausted whatever the number of distinct keys) and
// a flood of keys gets one limit's worth through in all. A rejected
// request writes nothing, so a key that is only rejected becomes idle
// first; that is right, its state then is full capacity. An entry is
// 1 + len(key) + 8 + 2 + len(state) bytes (a key over 64 bytes is kept as a
// 17-byte digest); states are at most 27 bytes, sliding_window's at most 117
// (11 counters of 9 bytes; in practice 12 to 35).
//
// # Concurrency
//
// The pure functions are safe anywhere. A Limiter without leases (see
// "Worker leases") holds no mutable state once configured (SetRecovery,
// SetHashKey, Precompile and SetLeases come before use); all
// updates go through store.Update (read, decide, compare-and-swap, retry at
// most store.MaxAttempts times), so the workers of an Envoy sharing one
// store admit exactly what one serial limiter would: the concurrent tests
// check the count, per instant, against the serial rule. A clock read that
// is behind the state's own instant (a worker that read the time slightly
// earlier) is handled conservatively by every algorithm (no credit for time
// going backwards). Creating a store key is a CAS too (store.CreateCAS):
// two workers creating the same set at once cannot overwrite each other.
//
// # Multi-level limits
//
// AllowAll decides the checks in order, one store update each, and undoes the
// admissions of the earlier checks when a later one rejects: the exact
// previous state is restored when nobody wrote the key in between, otherwise
// n is refunded. A request rejected by one limit therefore consumes nothing
// from the others. (Restoring "no state" writes an empty state, read as
// fresh: the key keeps its way in its set.) Deciding names the rejecting limit, or when allowed the
// most restrictive one (fewest Remaining; ties: longest Reset, then first).
//
// # Worker leases
//
// A Limiter given SetLeases(capacity) is one worker's (not safe for
// concurrent use): AllowAll / AllowAllInto of a request of one decide each
// of its checks from the worker's lease of the key when it has one, with no
// store operation. A lease is requests the worker already took from the
// store's state in one update:
//
//   - A check without a lease that admits decides from the store as
//     without leases, except that when the state has r >= 2×LeaseDivisor
//     (512) requests remaining it takes n = floor(r/256) instead of 1
//     (never refused: n <= r); the request uses one and the worker's
//     lease keeps n − 1. Below 512 remaining it takes 1, exactly as without
//     leases, so a limit whose capacity (Burst, or Requests for the
//     windows) is at most 511 never leases: every decision, RateLimit value
//     and stored byte is what it is without (TestLeaseSmallLimitsExact).
//     A key's first request (one the worker's table does not remember)
//     also takes 1, and the table remembers the key for a lease lifetime
//     (a sub-window for sliding_window): its next request within it takes
//     the lease. So a flood of keys seen once costs the store operations it
//     costs without leases (TestLeaseFloodOfKeys); a full set of the table
//     gives up a remembered key or a used-up lease before one holding
//     requests. A lease that ended without admitting a request is not
//     renewed by the key's next request, which takes 1 (giving the lease's
//     requests back in the same update) and makes the key remembered
//     again: a take and a give back cost two updates, more than one
//     request decided on its own, so a key that comes back about once a
//     lifetime costs what it costs without leases, never more
//     (TestLeaseCostByKeyRate, TestLeaseRenewalNeedsUse).
//   - Only token_bucket, gcra, fixed_window and sliding_window lease;
//     leaky_bucket never does (its delays shape, one request at a time).
//   - All or nothing holds: the leases' requests are used, and new leases
//     recorded, only once every check admitted; a check refused undoes the
//     store admissions of the earlier ones as without leases.
//   - A lease admits at t only while from <= t < until: token_bucket and
//     gcra for min(Per, LeaseLifetime = 1 s) after its take; fixed_window
//     inside the window it was taken in (and that long at most);
//     sliding_window inside the sub-window it was taken in (and that long
//     at most), so every request counts in the (sub-)window it is admitted
//     in and the windows' guarantees hold unchanged.
//   - The unused requests of a lease go back to the store when it ends
//     (the key stays remembered one more lifetime):
//     from ExpireLeases (the filter calls it from every tick) or, when the
//     worker's next request for the key comes first, in the same update that
//     takes the next lease (an update that finds nothing left to give back,
//     a bucket full again or a later window, ends the lease without another
//     one); and when a full table (4-way sets of the given capacity) gives a
//     lease's slot to another key. A bucket gets them
//     back as Refund does (capped at Burst); a window only while the state
//     still counts them where they were counted (the same fixed window;
//     the same sub-window, uncounted from that sub-window's own counter).
//   - Limiter.RefundOne (a later stage rejected the request) gives the
//     request back to the key's lease when it still admits and was taken no
//     later than the request arrived, otherwise to the store (Refund of 1).
//   - The RateLimit values of a request admitted from a lease are an
//     estimate: Remaining = the store's remaining right after the take + the
//     lease's requests left after this one (at most Limit; with one worker,
//     what counting one by one gives but for what a bucket refilled since
//     the take), Reset = until the take's reset instant.
//
// Bound: a worker holds at most floor(r/256) requests of a key taken early,
// r the state's remaining at the take (so at most capacity/256 each). The
// store counts every one of them, so the count is never over the limit:
// every request admitted used one the store gave out (in a window: at most
// Requests per window; sliding_window: at most Requests in any window of
// length Per, as without leases). What is approximate is timing: a request
// used a token the bucket gave out up to LeaseLifetime earlier, so in an
// interval starting at x, token_bucket and gcra may admit, beyond
// B + (y − x)×R/P, the lease tokens held at x (at most workers × B/256 per
// key); and requests held in other workers' leases are not available to
// a worker until those leases end: a refusal may come up to that many
// requests early, for at most LeaseLifetime (+ one tick). Once the leases
// have ended and been given back, the whole limit is reachable by any
// worker. TestLeaseConcurrentBound checks both at a limit of 10,000 with 6
// workers on one CAS store: exactly 10,000 admitted at one instant, never
// more; with 5 workers holding leases (at most 39 each), the other one
// refused at exactly the limit minus what they hold; after the lifetime and
// ExpireLeases, that one alone reaches the limit exactly.
//
// Cost: a worker takes from the store about once per n requests of a key
// (once per lease lifetime, window or sub-window at least); a keyed limit's
// lease table holds at most capacity keys per worker (the filter: a keyed
// limit 1,024 per VM, its max_keys when lower; a limit without a key one
// set), each keeping the key string it was given (keys over 128 bytes do
// not lease), 160 bytes an entry (160 KiB for 1,024), allocated with the
// first lease.
// ExpireLeases visits only the leases that ended (a min-heap of the leases
// taken, by end, 16 bytes each), not the table nor every lease; a seen
// key's entry is not in it (decide checks its end; a full set gives it up
// first).
//
// A caller that decides a request of one itself (the filter's one pass)
// uses Leases.Hit (or its inlined front, Last and Usable; Holds for a slot
// it remembers for a key string) for each check, Use (or Take, the same
// without a Decision) once each of them hit (Unuse to give back the request
// of an earlier check when a later one misses, then AllowAllInto decides):
// the same decisions as AllowAllInto (TestLeaseFastPaths). Keys are found by
// address first, so a caller that gives the same string again (a cache of
// keys) is found without hashing or comparing bytes; settings too: Usable
// compares them by address with those the lease's last Hit was given (a
// caller's settings that do not change), Hit compares them field by field.
package ratelimit
