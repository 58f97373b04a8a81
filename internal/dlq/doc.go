// Package dlq is the dead-letter sink and its tools, on a Redis Stream
// (github.com/redis/go-redis/v9): Handler accepts the filter's envelopes
// and appends each to the stream (XADD, approximate MAXLEN cap); List shows
// records with their state; Replay sends them again to an upstream through a
// consumer group; Purge removes acknowledged records.
//
// # Guarantees
//
// The filter sends each record at most once (no retry): a record is lost
// when the sink is down, and the filter counts it (dead_letter failed or
// dropped). Once stored, a record is replayed at least once: Replay
// XACKs it only after a 2xx from the upstream, a failed or interrupted
// replay leaves it pending in the group, and a later Replay claims it again
// (XAUTOCLAIM) once it has been idle for MinIdle. A replay that reached the
// upstream but whose 2xx was lost is therefore sent again: each replayed
// request carries Idempotency-Key: <record id> (or the key the original
// request carried) so that the upstream can deduplicate.
//
// # States
//
// A record is new (not yet read by the group), pending (read, not
// acknowledged: being replayed or failed) or acked (replayed with a 2xx).
// Purge deletes acked records only (acked in every group of the stream).
// The stream's MAXLEN cap (approximate, "~") trims the oldest records,
// whatever their state, once the stream exceeds it.
//
// # Concurrency and memory
//
// Handler is safe for concurrent use (go-redis pools connections). Replay,
// List and Purge work in batches (Batch records at a time): their memory is
// bounded by the batch, not the stream. Several Replay processes may share
// one group with distinct consumer names: Redis hands each new record to one
// of them.
package dlq
