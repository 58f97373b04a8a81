// Package deadletter keeps the requests that failed for good: the settings
// of a policy's dead_letter block, the versioned JSON envelope of one record
// (encode, decode, validate), record ids, and the bounded accounting of a
// VM's records in flight. Standard library only; it never reads the clock
// (times are passed in) and draws randomness only from a source passed in.
//
// # Settings
//
// Settings is the dead_letter block: Cluster (required), On (default
// [upstream_failure]), Methods (default POST PUT PATCH DELETE),
// MaxBodyBytes (default 65536, at most 1 MiB), RedactHeaders (default
// authorization, cookie), Timeout (default 50ms, 1ms..1m). The zero value of
// every field means its default; Normalize applies the defaults and checks
// the bounds, and is the only place they are decided.
//
// # Envelope
//
// One record is one JSON object of version 1 (Envelope documents its
// fields). Encode writes every field; Decode refuses anything above
// MaxEnvelopeBytes, unknown fields, trailing data, a version other than 1
// and every field out of Validate's bounds. The body is base64 (encoding/json's
// []byte). A string that is not valid UTF-8 is written with U+FFFD in place
// of the invalid bytes (encoding/json's rule), so only valid UTF-8 round-trips
// exactly.
//
// # Ids
//
// IDs makes ids unique across VMs and proxies without coordination beyond
// one shared counter per proxy: a random part drawn once per VM from the
// caller's source, the VM's identity, and a per-VM sequence (see IDs).
//
// # In flight
//
// Outbox holds a VM's encoded records between the end of their request and
// the answer to their send: at most MaxInFlight (64) records and
// MaxInFlightBytes (4 MiB) in all, so a VM's memory for dead letters is
// bounded whatever the sink does; a record above the bound is refused (the
// caller drops and counts it). LogGate lets one log line per cause through
// per minute.
//
// # Concurrency
//
// Settings and Envelope are values; IDs, Outbox and LogGate belong to one VM
// (single-threaded) and are not safe for concurrent use.
//
// # What is approximate
//
// Nothing is counted approximately. Uniqueness of ids across proxies is
// probabilistic (64 random bits per VM); within one proxy it is exact as
// long as the caller's VM identities are distinct.
package deadletter
