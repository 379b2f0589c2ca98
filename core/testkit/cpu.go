package testkit

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPU is the CPU time (user and system) the test process has used
// so far: benchmarks report CPU per operation next to time, since a busy
// machine disturbs it less.
func ProcessCPU(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
