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
