// Package retry is the retry budget shared by every worker (VM) of an
// Envoy: over a sliding second, retries stay within Ratio × requests +
// MinPerSecond.
//
// # Algorithm
//
// The budget of a policy is one record at one store key, changed only
// through store.Update. Time is cut into epochs of BucketWidth (100ms,
// counted from the Unix epoch); the record keeps the request and retry
// counts of the last Buckets (10) epochs in a ring, and the newest epoch
// seen, the head H. The window is the epochs (H-10, H]: it covers the
// current, partial bucket and the 9 before it, that is the last 0.9s to
// 1.0s of time (the approximation of "the last second": the oldest up to
// 100ms of the second are not counted, for requests and retries alike).
// Each operation first moves H to its own epoch if that is newer, clearing
// the buckets that enter the window.
//
//	allowance = floor(Ratio × requests(window) + MinPerSecond)
//	granted   = clamp(allowance - retries(window), 0, n)
//
// Grant versus charge. Envoy's router performs the retries; the filter can
// only tell it how many it may make (x-envoy-max-retries) before the
// request goes upstream, and learns afterwards how many it made (the
// response's attempt count minus one). So the budget reserves on grant and
// refunds on settlement:
//
//  1. on the request: RequestRetries(now, max_retries) counts the request
//     and reserves g retries in the current bucket; the filter sets
//     x-envoy-max-retries: g (0 when g == 0, and the request counts as
//     budget-exhausted when g < the retries it could have had);
//  2. on the response: Refund(grantedAt, now, g - performed) takes the
//     unused reservations off the bucket they were made in (if that bucket
//     is still in the window; once it slid out there is nothing to give
//     back). A stream that never sees a response (reset) refunds nothing:
//     its reservation stands, which errs on the safe side.
//
// Because every grant is decided and counted in one CAS update, the
// invariant holds at every grant instant t, across all workers:
//
//	retries(window(t)) <= floor(Ratio × requests(window(t)) + MinPerSecond)
//
// where retries are reservations minus refunds. Requests only add to the
// right side and refunds only take from the left, so the inequality still
// holds at every later instant in the same epoch. A grant never makes the
// window exceed its allowance; as the window slides, requests and
// reservations of the same old epoch leave it together.
//
// Charge counts retries performed without a reservation (no bound is
// checked; for callers that do not reserve). Instants older than the
// window (a worker clock more than ~1s behind the newest writer) are
// handled conservatively: such a request is not counted, such retries are
// counted in the newest bucket.
//
// # Leases: a worker's share, written by its tick
//
// A Lease (one per worker, not shared) spares the store round trip on
// most requests without ever letting the window exceed its allowance:
//
//   - Deposits. Lease.Request counts the request locally, in its epoch;
//     the counts are written with the worker's next update (its tick, or
//     a round trip of its own), into their own epochs (those that slid out
//     of the window meanwhile are dropped). Until then the allowance is
//     lower than the requests earn: other workers get fewer retries, never
//     more, for at most one tick.
//   - Grants. A request that needs n retries takes them from the worker's
//     pool when the pool holds n grants of the current epoch (Lease.Take,
//     Request's case without an update, which a caller may try first: the
//     filter does; Request is Take, else the update). Otherwise it
//     makes one update that writes the deposits and refunds waiting, gives
//     the pool back, counts the request, grants min(n, available) exactly
//     as RequestRetries and then leases k = min(floor(available /
//     LeaseShare), MaxLease) more grants (LeaseShare 16, MaxLease 64) into
//     a new pool, available being what the budget allows after the grant. The leased grants are counted as retries of the
//     current epoch at once, and a pool is handed out only in that epoch
//     (a request of a later epoch makes the round trip, which gives the
//     old pool back): every grant is counted in the epoch it is handed
//     out in, as with RequestRetries, so the invariant of the Algorithm
//     section holds as it is (grants handed out <= grants counted, and
//     the requests counted <= the requests made). Below LeaseShare
//     available, k = 0: every grant is a round trip, the exact path.
//   - Refunds. Lease.Unused puts an unused grant back into the pool when
//     it is of the pool's epoch and the pool is below k (the grant stays
//     counted, and may be handed out again in that epoch); otherwise it is
//     a deferred refund, written with the next update.
//   - Tick. Lease.Tick writes the deposits and refunds, gives the pool
//     back and, when the worker handed out grants since its last tick
//     while leasing (k > 0), takes a new pool sized as above: one update
//     per tick, none when there is nothing to write or take. Charge
//     (retries performed beyond a grant) is written at once.
//
// The bound: a worker holds at most k = min(floor(A/16), 64) unused grants,
// A being what the budget had available when it leased, for at most one
// tick or until its epoch ends, whichever is first. A request can be
// denied while the pools of other workers hold grants, at most the sum of
// their k; the denial happens only when the shared budget itself has
// nothing left, and each pool goes back at its holder's next tick, after
// which the allowance is reached exactly. Requests are counted at most one
// tick late. A worker that goes away (a reconfiguration drops its Lease)
// leaves its pool counted until its bucket slides out (at most 1s) and its
// deposits uncounted: both err on the side of fewer retries. TestLeaseSizeAtTheBound, TestLeaseDenialAndReach and
// TestConcurrentLeaseNeverExceeded (8 workers with leases on one store
// with injected conflicts) check this.
//
// # Zero value
//
// Settings.Normalize is the one place for defaults: a nil Ratio is 0.2 and
// a nil MinPerSecond is 5, the defaults of the configuration; an explicit
// zero is kept (Ratio 0 = only MinPerSecond retries per second;
// MinPerSecond 0 = only the ratio), but both 0 is an error (no retry could
// ever happen). Ratio must be in [0, 1000], MinPerSecond in [0, 1e6]. NewBudget never
// fails: invalid settings make every method return the Normalize error
// (Err reports it).
//
// # Concurrency
//
// A Budget holds only its settings and is safe for concurrent use; every
// change is one store.Update. An error (store.ErrContended after
// MaxAttempts conflicts) means the operation did nothing: TryRetry and
// RequestRetries then grant 0. The record's creation is a CAS too
// (store.CreateCAS): racing workers cannot overwrite each other.
// Reads (Usage) write nothing.
//
// # Memory
//
// One store key per budget, 89 bytes, little-endian:
//
//	offset  size  field
//	0       1     version = 1
//	1       8     H, newest epoch (int64, units of 100ms since the Unix epoch)
//	9       8×10  bucket i = 0..9: [4] requests (uint32) [4] retries (uint32)
//	              of the epoch e in (H-10, H] with e mod 10 == i
//
// Counters saturate at 2^32-1. Any other length or version is corrupt and
// decodes as a fresh, empty window.
package retry
