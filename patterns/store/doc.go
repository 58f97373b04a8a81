// Package store is the compare-and-swap key/value contract that every
// pattern keeps its shared state in, and the one bounded retry loop that
// updates it.
//
// In the plugin the store is Envoy shared data (one process-wide map, one
// mutex, a CAS number per key, no delete, no TTL). In tests it is Mem, an
// in-memory store with the same semantics that can inject CAS conflicts.
//
// Semantics (those of proxy-wasm-cpp-host's SharedData):
//   - Get of an absent key returns ErrNotFound.
//   - Set with cas == 0 writes unconditionally; with cas != 0 it fails with
//     ErrCASMismatch unless the key's current CAS equals cas. Setting an absent
//     key always succeeds (there is no create-if-absent primitive).
//   - Every successful Set gives the key a new, non-zero CAS.
//
// Update is the single retry loop of the project: read, compute, write with
// the read CAS, retry on conflict, at most MaxAttempts times. A key that does
// not exist yet is written with CreateCAS, not 0: Envoy creates an absent key
// whatever the CAS but checks a non-zero CAS against an existing one, so two
// workers creating the same key at once cannot overwrite each other (the
// second gets ErrCASMismatch, reads the first one's value and retries).
//
// Table bounds per-key state: an unbounded key space (one entry per user,
// path, ...) is folded onto Sets store keys of Ways entries each (4-way set
// associative by SipHash-1-3 keyed with a HashKey, so set collisions cannot
// be computed without the deployment's secret; layout in table.go). Only an
// idle entry (the pattern's Idler decides, with now passed in) is replaced
// by a new key; a new key whose set is full of live entries is decided by
// the table's one overflow state. A limit with max_keys N writes at most
// ceil(N/4) store keys plus the overflow key whatever the number of
// distinct key values, each value at most 4 entries of (1+64+8+2+state)
// bytes (MaxBytes).
//
// Concurrency: Mem is safe for concurrent use. Update is as safe as the Store
// it is given. A Table is safe for concurrent use: its only mutable part is
// the cache of set names (atomic pointers; two callers naming a set at once
// store equal strings). Memory: Mem holds what is written to it; the patterns
// bound the set of keys they write. A Table of more than one set keeps 8
// bytes per set, up to MaxNamedSets, plus the names of the sets it has
// named (each built once).
package store
