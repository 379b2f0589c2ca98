package testkit

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails t (naming what it
// waited for) if it still does not after Patience: for what travels
// through a watch, a heartbeat or another goroutine.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pollInterval)
	}
}
