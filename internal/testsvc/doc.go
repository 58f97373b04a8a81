// Package testsvc starts the real services some tests talk to, on loopback:
// a Redis server (Debian's redis-server) and envoyproxy/ratelimit's service
// (installed by `make tools` into .tools/bin/service_cmd at a pinned
// version). Each is stopped when the test ends. A missing binary fails the
// test with the command that installs it: `make test` installs both.
// ReplayTarget is the upstream the dead-letter replay tests count
// deliveries at (per Idempotency-Key).
package testsvc
