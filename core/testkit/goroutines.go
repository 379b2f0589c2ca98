package testkit

import (
	"runtime"
	"testing"
	"time"
)

// CheckGoroutines fails t if goroutines started during the test are
// still running once the test and its other cleanups have ended (it waits
// up to Patience for them to finish). Call it first in a test, so that
// its cleanup runs last.
func CheckGoroutines(t testing.TB) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(Patience)
		for {
			now := runtime.NumGoroutine()
			if now <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("goroutines leaked: %d before, %d after\n%s", before, now, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(pollInterval)
		}
	})
}
