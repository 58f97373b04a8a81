// Package filter is the Breakwater plugin: the proxy-wasm VM, plugin and HTTP
// contexts, the adapter that gives the patterns Envoy shared data as their
// store, metrics and local responses. It is the only package that imports
// the proxy-wasm SDK.
//
// Request path. OnHttpRequestHeaders reads the request headers with one host
// call, picks the first policy whose match holds and asks the policy's
// stages in the order of docs/configuration.md (fault → deadline → rate_limit →
// circuit_breaker → bulkhead → router directives). Each stage passes,
// rejects (local response with x-breakwater-policy and x-breakwater-reason,
// fallback applied) or pauses the request; a paused request is resumed by
// the stage itself (tick, callout answer). A stage that took something (a
// token, a slot, a half-open breaker's probe; a closed breaker's admission
// takes nothing) registers an undo; a rejection by a later stage runs the
// undos in reverse, so a request rejected anywhere consumes nothing. Undos
// and end-of-stream releases are typed records (holdRec), kept in a block
// of arrays (streamBufs, about 1 KB) that a context takes at its first
// stream a policy applies to and keeps for the streams it serves when
// reused (a deleted context goes to the VM's free list with its block), so
// a request of the usual policies allocates none of them. The request headers the filter
// sets are a reqSet made beforehand and encoded once (reqset.go): the
// policy's x-breakwater-policy, or the directive stage's set of that header
// and the directives for one timeout and retry grant (the last few kept,
// directiveStage.setFor); the
// directives are written with the request's other headers in one
// proxy_set_header_map_pairs. On the response, the headers are read as one
// map and the filter's written back with them in one call only when that
// takes fewer host calls than single reads and adds. The request headers
// are scanned once, in their encoding (requestInfo.load): the first value of
// each name of the VM's header table (hdrTab: the pseudo-headers, the names
// the filter sets, then each name a stage looks up, added at its first
// lookup while there is room) goes to a slot, so a stage's lookup
// (requestInfo.header) reads a slot; a name not in the table is looked up
// in the list, decoded then. The answer is the plain scan's (lookup). A
// stage that reads constant names finds their entries at config time and
// tests their bits (the deadline: a request without budget headers passes
// without a lookup, deadlineStage.none).
//
// Dead letters (deadletter.go). A policy with dead_letter arms a request
// whose method qualifies: its body is copied as it streams (always
// continued), and at stream end a qualifying outcome (a covered rejection,
// or a final response that counts as a failure) becomes one envelope in the
// VM's bounded outbox; the tick sends the queued records from the root
// context with one proxy_http_call each, never retried. Memory: at most
// max_body_bytes of copy per armed request in flight, and 64 records (4 MiB)
// per VM between the end of their request and the sink's answer.
//
// Time is read at most once per callback (clock), only where something uses
// the instant (a match-only policy reads none), and passed down. The plugin
// never panics: every callback recovers, logs, and lets the request through.
//
// In the .wasm build (sdkext_bridge.go, filter/sdkbridge) the scan reads
// the host's encoding of the request's headers (natively, an encoding of the
// SDK's list), which is kept: the directives are written with them by
// copying it and the set's encoding (four memmoves,
// ReplaceRequestHeadersBlock) when the client sent none of the names the
// filter sets (the scan tells: they are in every header table), and list
// decodes it into the
// stream block's array when a stage walks the headers. A stream's httpContext is
// reused for a later stream once the host deleted it (httpContext.deleted):
// nothing keeps a pointer into one past OnHttpStreamDone.
//
// State. Every pattern keeps its state in Envoy shared data through
// hostStore (patterns/store.Store), so all worker VMs of one Envoy share it.
// Keys are "<namespace>/<policy>/<pattern>/<name>[/<set>|/overflow]". The
// set of a client-chosen key is picked by a hash keyed with the
// deployment's secret (secret.go: drawn once from WASI random_get, kept in
// shared data under "<namespace>/hash_key" with create-if-absent, so every
// VM and every reload use the same one); live state is never evicted (the
// patterns' doc.go, "Idle and overflow"). config.SharedBytes bounds what
// a configuration can write, and Load refuses one above max_shared_bytes.
//
// Stale cache (stale.go): keyed by :authority, path and stale.key; a
// response that is private to its user (Cache-Control private, no-store,
// no-cache, Set-Cookie, Vary) or a request with credentials not in the key
// is never kept; the representation headers are kept with the body.
package filter
