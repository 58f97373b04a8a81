package testsvc

import (
	"testing"
	"time"
)

// Eventually polls cond every 2 ms until it holds, and fails the test naming
// what after within: a bound on how long to wait for something that must
// happen (a record crossing a real socket, a VM finishing its start), never
// a measurement of how long it took.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
