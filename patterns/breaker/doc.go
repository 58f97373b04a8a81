// Package breaker is the circuit breaker of docs/configuration.md (circuit_breaker),
// with its state in a CAS store shared by every worker of the proxy and time
// passed in by the caller.
//
// # Algorithm
//
// Each key (the joined "key" parts of a policy; "" for an unkeyed breaker)
// has one state record. A request asks Allow, which returns a Token carrying
// the generation of the state that admitted it; the caller later hands the
// token back with the Outcome to Report, or to Release when the request
// ended without an outcome (it then counts as neither success nor failure).
//
//   - Closed: every request is admitted. Each outcome of the current
//     generation is added to the window. The breaker opens when, in the
//     window, calls >= MinimumCalls and (failures/calls >=
//     FailureRateThreshold or, when SlowCallDuration > 0, slow/calls >=
//     SlowCallRateThreshold), or when ConsecutiveFailures > 0 and that many
//     failures were reported in a row (a success, slow or not, resets the
//     run). A call is slow when Duration >= SlowCallDuration; a failure can
//     also be slow and then counts in both rates.
//   - Open: requests are rejected. The k-th trip in a row stays open
//     OpenDuration × OpenBackoff^(k-1), capped at MaxOpenDuration; a close
//     resets k. When that time has elapsed, the first Allow turns the state
//     half-open (lazily; Allow returns that transition) and takes the first
//     probe slot. State() already reports half-open from the moment the open
//     duration has elapsed.
//   - Half-open: exactly HalfOpenCalls (<= 64) probes are admitted in total,
//     across all workers: each takes a slot, a bit of the shared record set
//     by CAS, and its token names the slot; the rest is rejected. Every probe
//     succeeding closes the breaker; a probe that fails, or is slow while
//     slow calls are tracked, reopens it (trip k+1). A released probe frees
//     its slot for another request. A slot is settled once: a second Report
//     or Release of the same probe token is ignored.
//   - Lost probes: a probe whose holder vanished (worker crash, VM reload:
//     neither Report nor Release ever comes) would hold its slot forever. Rule:
//     when every slot is taken and HalfOpenMaxWait has passed since the last
//     probe was admitted, the next Allow starts a new half-open generation
//     (empty, all slots free) and admits itself as its first probe. It is
//     returned as a HalfOpen -> HalfOpen transition; outcomes of the old
//     probes are ignored from then on. So a breaker is never wedged for more
//     than HalfOpenMaxWait after its last probe admission. HalfOpenMaxWait
//     defaults to max(OpenDuration, CallTimeout or 60s): a probe that is
//     merely slow (still within the policy's request timeout) reports before
//     a second probe is let in. An abandoned probe (its stream ended with no
//     response) is Released and frees its slot at once.
//
// Every transition (and a probe re-arm) starts a new generation with empty
// windows and counters. Report ignores a token whose generation is not the
// current one, a probe token in the closed state, a non-probe token in
// half-open, and any token while open, so no outcome is counted twice or in
// the wrong generation.
//
// Windows:
//   - Count window (WindowSize N): the last N outcomes of the generation, a
//     ring of two N-bit sets (failure, slow) with a fill count and a write
//     position; the (N+1)-th outcome overwrites the oldest.
//   - Time window (WindowDuration split in Buckets B): bucket duration
//     d = WindowDuration/B (integer nanoseconds); an outcome reported at
//     instant t goes in bucket e = floor(t/d) (Unix nanoseconds) and counts
//     at instant now while floor(now/d) - e < B, i.e. the window is the
//     current, partial bucket plus the B-1 before it. A ring of B buckets of
//     (calls, failures, slow) with the epoch of the newest bucket; moving
//     forward zeroes the buckets skipped. An outcome stamped before the
//     newest bucket (workers' clocks a little apart) is counted in the newest
//     bucket; when the newest bucket is a whole window or more ahead of the
//     outcome (the clock stepped back), the window restarts.
//
// Clock steps: a stored instant more than MaxOpenDuration ahead of the
// caller's clock (clock stepped back, damaged record) counts as long past, so
// it can never keep a breaker open or a probe slot taken.
//
// Calls are counted when their outcome is reported, not when admitted.
//
// # Modes
//
// Enforce (zero value) as above. Observe runs the same state machine and
// reports the same transitions and states but never rejects: a request that
// Enforce would reject is admitted with Token.WouldReject, and its outcome is
// not recorded (in Enforce it would never have reached the upstream), so
// Observe trips, probes and closes exactly when Enforce would. ForcedOpen
// rejects everything, Disabled admits everything; neither reads nor writes
// the store, and State() reports Open and Closed respectively.
//
// # Zero value
//
// The zero Settings is valid (Normalize fills the configuration's defaults:
// count window of 100, minimum_calls 20, failure rate 0.5, consecutive
// failures off, slow calls not tracked, slow rate 1.0, open 30s, backoff 1,
// max 5m, 1 probe re-armed after 60s without an outcome, enforce). Defaults
// that depend on another field derive from it, so a default never makes an
// explicit value invalid (see Settings: max_open_duration = max(5m,
// open_duration), minimum_calls = min(20, count window size), and so on).
// Every duration is at most MaxDuration. A key without a record is closed
// at generation 1. The
// zero Token is never recorded.
//
// # Concurrency and cost
//
// A Breaker is immutable and safe for concurrent use; workers (VMs) each
// build their own Breaker with the same prefix and settings and share the
// store. All writes go through store.Table.Update (the store's one bounded
// retry loop): each attempt re-decides from the value it read, so a CAS
// conflict never admits a probe twice or counts an outcome twice. Per
// request: Allow is one store read while closed (and while open or without
// a free probe slot); a probe admission is one read plus one Update; Report
// is one Update (read + CAS write). Through a Local (below), a healthy
// breaker's request costs no store operation, and each key one Update per
// tick period. The first write of a table set is a
// CAS too (store.CreateCAS): racing creators cannot overwrite each other.
//
// # Local views (one worker's fast path)
//
// A worker (one VM) may decide through a Local instead of calling the
// Breaker for every request. Its promises, for period P (the worker's tick
// period; the filter passes its 10 ms tick):
//
//   - A Local keeps, per key it has seen, the state read or written last by
//     this worker (closed or not, generation, whether the window was clean)
//     and when. Allow admits without a store operation, with a token of the
//     view's generation, only while the view is closed, less than P old,
//     and clean: no failure, no slow call and no consecutive failure in the
//     window, and one more failure (slow too) would not open the breaker (so
//     a breaker that one failure opens, e.g. consecutive_failures 1 or
//     minimum_calls 1, and a breaker whose window already holds a failure,
//     are decided exactly as without a Local: one store read per request).
//     Anything else is Breaker.Allow, whose read refreshes the view; open,
//     half-open and probes are never decided locally, so half-open admits
//     exactly HalfOpenCalls probes as above.
//   - Report counts a success (not slow) of a closed-state token of the
//     view's generation locally, when the key has a record (its first
//     outcome creates it at once) and the success cannot open the breaker
//     (the view is clean, or its calls plus this worker's pending successes
//     already reach MinimumCalls: from there a success only lowers the
//     rates). Any other outcome (a failure, a slow call, a probe, a success
//     that could open it) is reported at once, in one store.Update that first adds this
//     worker's pending successes of that key, so the decision sees at least
//     all of this worker's outcomes in order.
//   - Tick, the worker's timer, flushes the pending successes of every key,
//     one store.Update per key that has some, and re-reads (one store read)
//     the views that admitted locally since the last tick; that read is what
//     keeps a busy view fresh. A batch of k successes leaves the record and
//     returns the transition exactly as k Reports at the flush instant would:
//     the rates only fall with each success, so only the success that brings
//     the calls to MinimumCalls (or the first, when they are already there)
//     can trip it, and that one is checked.
//   - Release costs nothing locally (a request without outcome never
//     counts); a probe's Release is Breaker.Release.
//   - Fresh and Count are the local cases of Allow and Report on their own,
//     for a caller that tries them first (the filter does): Fresh(key, ns)
//     admits exactly when Allow would admit without a store operation, and
//     Count(key, tok) counts a success (not slow) exactly when Report would
//     count it locally; neither needs the store, Count not even the instant
//     (the filter reads the clock for an outcome only when Count refuses).
//     Otherwise they do nothing, and the caller calls Allow or Report
//     (TestFreshCountAsAllowReport checks both against the rules above and
//     the call order against Allow and Report alone).
//
// The approximation, and its bounds:
//
//   - Opening seen late: a worker whose view was read at r, before another
//     worker opened the breaker, still admits until r+P (exclusive) unless it
//     reports a failure or ticks first; at most one tick period after the
//     opening. Its outcomes of the old generation are then ignored (a stale
//     token), as outcomes in flight at an opening are without a Local. This
//     only happens when the breaker opened less than one tick period after
//     this worker read it clean (no failure, and not one failure from
//     opening); once the window holds a failure, every worker decides
//     exactly from its next read.
//   - Successes counted late: another worker's successes reach the shared
//     window at most one tick period after they were reported (at its tick,
//     or at its next failure). Until then the window a failure is counted in
//     lacks them: the failure rate seen at a failure can be higher than the
//     true one (at most by the successes all other workers reported in the
//     last tick period), and a count window holds the last N outcomes in the
//     order they reached the store. A time window counts a flushed success
//     in the bucket of its flush instant. A run of consecutive failures is
//     ended by another worker's success when that success is flushed, so it
//     can miss the failures reported in the tick period after the success.
//   - Nothing is lost while the worker runs: a flush that fails keeps its
//     successes for the next tick (and stops local admission until a read
//     succeeds); a view evicted from the table (a direct-mapped table of a
//     power of two entries, indexed by the keyed hash: a key takes its entry
//     from the key that held it) is flushed first. A worker that stops (VM
//     shutdown or reload) loses its pending successes: at most one tick
//     period of its successes, never a failure; their absence can only make
//     the failure rate look higher.
//
// # Memory
//
// At most Table().Capacity() records (maxKeys rounded up to the 4 ways of
// store.Table), in at most Table().Sets() store keys, whatever the number of
// distinct keys, plus the table's overflow record (see Idle and overflow).
//
// # Idle and overflow
//
// A record is idle at now (replaceable by a new key of its set) when it is
// closed, has no consecutive failures and no failure and no slow call in
// its window as counted at now (a count window keeps its failures until
// later calls push them out; a time window forgets them as its buckets age).
// An open or half-open breaker, or a closed one with failures in its
// window, is live and never replaced. A key without a record whose set
// holds no idle record is decided by the overflow breaker: one record with
// the policy's own settings, shared by every overflowing key. It admits as
// one breaker would for all of them together: it opens when the
// overflowing keys' outcomes trip it, and then rejects every overflowing
// key until its probes succeed. It is safe because it never touches a live
// record: a victim's open breaker stays open, and a flood of keys can at
// worst open the overflow breaker (rejecting only keys that found no room),
// never close anyone's. A key that finds room later starts from a fresh
// record; an outcome reported after the key moved is recorded where the
// key is then decided (a token of another generation is ignored). One
// record is 40 + window bytes: a count window of
// N calls takes 12 + 2×ceil(N/8) (N <= 10000: at most 2552 bytes in all; 78
// bytes for the default N = 100), a time window of B buckets takes 20 + 12×B
// (B <= 600: at most 7260 bytes in all; 180 bytes for B = 10).
//
// # State record (one per key; all integers little-endian)
//
//	offset size field
//	0      1    format: 0xB1 (breaker record, version 1)
//	1      1    state: 0 closed, 1 open, 2 half-open
//	2      1    window type: 0 count, 1 time
//	3      1    reserved, 0
//	4      4    generation (uint32, never 0; wraps from 2^32-1 to 1)
//	8      4    trips in a row (uint32; 0 when closed, >= 1 when open or half-open)
//	12     8    instant (int64 Unix ns): generation start (closed, open: the
//	            opened-at instant), last probe admission (half-open)
//	20     8    pending probes (uint64 bit set: bit i = probe slot i admitted,
//	            no outcome yet; 0 unless half-open)
//	28     8    succeeded probes (uint64 bit set, disjoint from pending;
//	            0 unless half-open)
//	36     4    consecutive failures (uint32; 0 unless closed)
//	40     ...  window
//
// Count window (window type 0):
//
//	40     4    N, window size in calls
//	44     4    filled: calls held, <= N
//	48     4    pos: index of the next write, < N (== filled while not full)
//	52     F    failure bits, F = ceil(N/8): bit i (byte i/8, bit i%8) set
//	            when call slot i failed; bits at index >= filled are 0
//	52+F   F    slow bits, same layout
//
// Time window (window type 1):
//
//	40     4    B, number of buckets
//	44     8    bucket duration d (int64 ns, > 0)
//	52     8    head: epoch floor(t/d) of the newest bucket (int64)
//	60     12×B buckets; bucket i holds the epoch e <= head with e ≡ i (mod B):
//	            [4] calls [4] failures (<= calls) [4] slow (<= calls)
//
// Decoding is strict: a record that is too short or too long, has another
// format byte, an unknown state or window type, a non-zero reserved byte,
// generation 0, fields that contradict the state (trips, probes,
// consecutive failures as listed above), a window shape out of bounds or
// a window whose counters are inconsistent is corrupt, and a corrupt record
// is treated as a fresh closed state at generation 1 (it is overwritten by
// the next write; corruption never fails a request). A valid record whose
// window has another shape than the settings (the configuration changed)
// keeps its header (state, generation, trips) with an empty window of the
// new shape.
package breaker
