package main

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"time"
)

// The soft memory limit (upmem_linux.go) is for the data path's churn,
// while the live heap is small. A catalog of 100,000 apps is live heap
// above it: the GC then ran all the time, and DNS over random app names
// answered at a quarter of its one-app rate (issue 13). So the limit
// follows the live heap: never below the limit set at start, and at least
// twice the heap live after the last GC (the headroom GOGC=100 gives), so
// that it binds only while the live heap is small.

// memoryLimitFor is the soft limit for a live heap of live bytes, given
// the limit set at start (floor).
func memoryLimitFor(floor, live int64) int64 { return max(floor, 2*live) }

// followLiveHeap moves the soft limit with the live heap, once a second,
// until ctx is done; not when GOMEMLIMIT set the limit, nor when there is
// none.
func followLiveHeap(ctx context.Context) {
	floor := debug.SetMemoryLimit(-1) // reads it
	if os.Getenv("GOMEMLIMIT") != "" || floor == math.MaxInt64 {
		return
	}
	sample := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	cur := floor
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rtmetrics.Read(sample)
		if sample[0].Value.Kind() != rtmetrics.KindUint64 {
			return // not in this runtime
		}
		// A tenth either way is not worth a change.
		if want := memoryLimitFor(floor, int64(sample[0].Value.Uint64())); want > cur+cur/10 || want < cur-cur/10 {
			debug.SetMemoryLimit(want)
			cur = want
		}
	}
}
