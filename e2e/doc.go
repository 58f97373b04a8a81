// Package e2e holds Breakwater's end-to-end tests: the built
// dist/breakwater.wasm (run `make build` first) inside the dev host
// (package devhost) with 4 worker VMs sharing one shared-data map, on
// loopback, in front of real HTTP upstreams (httptest servers that fail or
// slow down on demand and count the requests, attempts and concurrency they
// actually observe), and, for global limits, the real envoyproxy/ratelimit
// service backed by a real Redis (package internal/testsvc; `make tools`
// installs both).
//
// Every scenario is bounded in requests and time, asserts counts, statuses
// and headers, and fails when the .wasm is missing rather than skipping:
//
//   - breaker_test.go: a breaker protects a failing upstream: while open the
//     upstream sees nothing, half-open it sees at most the probes, and it
//     closes again once the upstream recovers.
//   - ratelimit_test.go: a local limit is exact across the 4 VMs, for every
//     algorithm, with the RateLimit-* headers; multi-level limits; exact on
//     fresh keys too (workers racing to create a shared-data key).
//   - bulkhead_test.go: the concurrency the upstream observes never exceeds
//     max_concurrent; queued requests are admitted later; a full queue
//     rejects; the queue's throughput under sustained load is logged.
//   - retry_test.go: retries are performed by the router from the filter's
//     directives (x-envoy-attempt-count) and stop when the shared budget is
//     spent.
//   - timeout_test.go: a caller deadline (x-envoy-expected-rq-timeout-ms from
//     an internal client, grpc-timeout from an external one) shortens the
//     upstream timeout; too little budget is rejected without an upstream call.
//   - global_test.go: a global limit through envoyproxy/ratelimit + Redis is
//     exact per user across workers and across two hosts.
//   - reload_test.go: a reconfiguration that keeps the breaker's policy keeps
//     its state (open stays open).
//   - soak_test.go: 200,000 requests over 4 VMs with 50,000 distinct users:
//     bounded linear memory per VM and bounded shared data (from max_keys).
//   - envoy133_test.go: 30,000 requests under Envoy 1.33-1.38's WASI
//     (poll_oneoff returns ENOSYS) through every block and every path that
//     pauses a request: no trap, no poll_oneoff.
//   - bench_test.go: requests/second, p99 and host calls per request through
//     the dev host, the filter against dist/noop.wasm side by side.
//
// A burst that must be exact starts with one request alone, which creates
// the shared-data record (see TestRateLimitCreationRace for why).
//
// Run: `make e2e` (or `go test -count=1 ./e2e` after `make build`); the
// benchmark: `go test -run '^$' -bench FilterVsNoop -benchtime 20000x ./e2e`.
//
// The package has no non-test code; nothing imports it.
package e2e
