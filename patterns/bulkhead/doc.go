// Package bulkhead caps the number of requests of a key in flight across
// every worker (VM) of an Envoy, with a bounded FIFO queue of waiters and
// permits (leases) that a vanished holder loses on its own, without any
// cooperation from it.
//
// # Algorithm
//
// Each key has one record, kept in a store.Table (so at most maxKeys keys,
// see below) and changed only through store.Update (one read-compute-write
// with CAS, retried on conflict). The record lists the live leases (holder
// id, expiry) and the queued waiters (waiter id, enqueue instant, last
// seen instant) in FIFO order. Ids are random 64-bit numbers chosen by the
// caller, one per request.
//
//   - A lease is live while now < expiry; expiry = acquisition (or last
//     renewal) + LeaseTTL. Past its expiry a lease is free: the next write
//     drops it. A worker that crashed or a VM that was reloaded therefore
//     gives its permits back after LeaseTTL at the latest, with no action of
//     its own. Holders of streams that may outlive LeaseTTL call Renew (from
//     the tick, e.g. every LeaseTTL/3).
//   - A waiter is live while now - enqueued < MaxWait and now - lastSeen <
//     WaiterTTL. Enqueue and every TryAdmitQueued poll refresh lastSeen (the
//     heartbeat); a waiter whose VM vanished is dropped after WaiterTTL
//     (default MaxWait).
//   - Acquire admits when live leases + live waiters < MaxConcurrent: a new
//     arrival never takes a permit that a queued waiter is entitled to.
//   - TryAdmitQueued admits the waiter at position p (0 = head, counting
//     live waiters only) when live leases + p < MaxConcurrent, i.e. when the
//     waiters ahead of it still each have a permit left. With one permit
//     free only the head is admitted; with k free the first k waiters are,
//     in whatever order they poll. No waiter ever takes a permit an earlier
//     waiter needs: admission is FIFO in priority.
//   - Release removes the lease and reports whether it was still held:
//     exactly-once, whatever calls it (response, reset, local reply,
//     timeout); a second call, or a call after expiry, returns false.
//
// Resume latency: a waiter is admitted when it polls. The caller polls
// right after Enqueue and then from each tick of its VM; a permit freed on
// any worker is thus taken by the head waiter within one tick period (plus
// at most one more per waiter ahead that polls late), or it expires at
// MaxWait and is rejected (bulkhead_full).
//
// Active, Queued and Counts count live leases and waiters at now (a read,
// no write), so the gauges bulkhead.active and bulkhead.queued are exact at
// the instant they are read.
//
// # Zero value
//
// Settings.Normalize is the one place for defaults. MaxConcurrent is
// required (>= 1). QueueSize 0 means no queue (Enqueue always refuses:
// reject at once; MaxWait and WaiterTTL are then ignored and set to 0).
// With a queue, MaxWait is required (> 0). LeaseTTL 0 = 60s. WaiterTTL 0,
// or above MaxWait, = MaxWait (the heartbeat then plays no part, and polls
// that do not admit write nothing). Negative values are errors. New never
// fails: invalid settings make every method return the Normalize error
// (Err reports it).
//
// # Concurrency
//
// A Bulkhead holds only its settings and is safe for concurrent use (a
// Bulkhead given a buffer by ReuseBuffer is for one worker); all
// shared state is in the store, and every change is one store.Update, so
// each operation is atomic with respect to all workers. An error from the
// store (store.ErrContended after MaxAttempts conflicts) means the
// operation did nothing: an Acquire did not acquire, a Release did not
// release (the permit then comes back at its expiry; the caller may retry).
// Instants are the caller's (never the clock); workers' clocks should agree
// to well within LeaseTTL and MaxWait. A table set is created with a CAS
// too (store.CreateCAS): two workers creating it at once cannot overwrite
// each other's leases.
//
// Round trips: Acquire, Release, Renew, Enqueue, TryAdmitQueued and Dequeue
// are one Get and one Set each (more on CAS conflicts; a refused Acquire,
// and a poll that does not admit when WaiterTTL = MaxWait, write nothing).
// Active, Queued and Counts are one Get. Acquire and Release, the
// operations of every request, read the encoded record in place and append
// the next one to the table's set buffer (store.Table.UpdateAppend): no
// decoded copy, no buffer of their own, the same bytes as decoding, pruning,
// editing and encoding would give. With ReuseBuffer that set buffer too is
// kept between calls. Admission stays exact: there is no
// worker-local reservation of permits.
//
// # Memory
//
// Record of one key (little-endian):
//
//	offset  size  field
//	0       1     version = 1
//	1       2     L, number of leases (uint16)
//	3       2     W, number of waiters (uint16)
//	5       16×L  leases:  [8] holder id (uint64) [8] expiry (Unix ns, int64)
//	5+16L   24×W  waiters: [8] waiter id (uint64) [8] enqueued (Unix ns, int64)
//	                       [8] last seen (Unix ns, int64); FIFO, head first
//
// Its size is at most 5 + 16·MaxConcurrent + 24·QueueSize bytes (expired
// entries are dropped on every write); Normalize refuses settings where that
// exceeds 65535 bytes (the store.Table state limit): MaxConcurrent <= 4095
// without a queue. A record with another version, or a length that does not
// match its counts, is corrupt and read as a fresh, empty record (its
// permits are forgotten; only a foreign writer can produce one).
//
// The records live in a store.Table of maxKeys entries: at most
// ceil(maxKeys/4) store keys, each holding at most 4 records (plus 75 bytes
// of table overhead each), and the overflow record. Whatever the number of
// distinct keys, memory is bounded by ceil(maxKeys/4) × 4 × (75 + 5 +
// 16·MaxConcurrent + 24·QueueSize) + (5 + 16·MaxConcurrent + 24·QueueSize)
// bytes.
//
// # Idle and overflow
//
// A record is idle at now (replaceable by a new key of its set) when it
// holds no unexpired lease and no live waiter at now. A key with leases or
// waiters is live and is never replaced, so its permits are never
// forgotten. A new key whose set holds only live records is decided by the
// overflow bulkhead: one record with the policy's settings shared by every
// overflowing key, so all of them together hold at most MaxConcurrent
// permits (and QueueSize waiters). It is safe: the upstream never sees more
// than (keys with a record + 1) × MaxConcurrent in flight, and no key's cap
// is lifted. Release, Renew, TryAdmitQueued and Dequeue look for the holder
// or waiter in the key's record, then in the overflow record (the key may
// have found room since it acquired). Size maxKeys above the number of keys
// in flight at once.
package bulkhead
