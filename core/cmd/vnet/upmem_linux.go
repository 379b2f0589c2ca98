package main

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// The engine's heap headroom under load.
//
// Go's collector lets the heap grow to twice what was live after the last
// collection (GOGC=100) before it collects again. Under iperf3 -P 8 the
// engine's live heap was about 21 MiB (the buffers of eight busy
// connections: gVisor's send buffers and gRPC's received frames) and its
// heap reached 41 MiB: the collector's headroom, not the buffers, was what
// took vnet up past 64 MiB (docs/benchmarks.md, "Memory, fifth pass"). A
// soft memory limit (debug.SetMemoryLimit) caps that headroom, but a fixed
// one costs throughput once the live heap nears it, since the collector
// then runs back to back: a fixed 40 MiB limit cost -P 8 upload 40% when
// every connection held 8 MiB of buffers. So the limit follows the live
// heap: never below memFloor, and always room for half the live heap
// again above it, which is GOGC=50 once the live heap is large.

// memFloor is the lowest soft limit: the engine's memory (heap, stacks,
// the runtime's own) may grow to it before the limit makes the collector
// run more often than GOGC=100 does. Eight busy connections hold 16-20
// MiB live, so under them the room for half the live heap, not the
// floor, sets the limit (about 35 MiB); the floor keeps a lightly
// loaded engine collecting no more often than before. Measured with 40
// and 32: vnet up peaked at 57 and 52-54 MiB against 61-65 without a
// limit, and the collector ran 7-11 times instead of 3-5 under the
// iperf3 rows, 33-105 ms of CPU in all (docs/benchmarks.md).
const memFloor = 32 << 20

// memoryLimit is the soft limit for a live heap of live bytes, with
// nonHeap bytes of the runtime's memory besides the heap (goroutine
// stacks, the collector's and the allocator's own): the floor, or room
// for half the live heap again, whichever is more.
func memoryLimit(live, nonHeap uint64) int64 {
	if live > math.MaxInt64/3 || nonHeap > math.MaxInt64/3 {
		return math.MaxInt64 // no limit rather than a wrapped one
	}
	return max(memFloor, int64(nonHeap+live+live/2))
}

// limitMemory keeps the process's soft memory limit at memoryLimit of its
// live heap, read again after every collection, until ctx ends (then
// there is none). GOMEMLIMIT, when set, is left to rule.
func limitMemory(ctx context.Context) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	samples := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	update := func() bool {
		if ctx.Err() != nil {
			debug.SetMemoryLimit(math.MaxInt64)
			return false
		}
		metrics.Read(samples)
		v := make([]uint64, len(samples))
		for i, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		heap := v[2] + v[3] + v[4] + v[5]
		nonHeap := uint64(0)
		if v[1] > heap {
			nonHeap = v[1] - heap
		}
		debug.SetMemoryLimit(memoryLimit(v[0], nonHeap))
		return true
	}
	update()
	afterEachGC(update)
}

// afterEachGC calls f after each garbage collection from now on, until f
// returns false: a cleanup on an object nothing refers to runs once a
// collection has freed it, and each call leaves such an object for the
// next collection. Nothing wakes between collections (an idle engine
// collects rarely).
func afterEachGC(f func() bool) {
	runtime.AddCleanup(&gcSentinel{}, func(f func() bool) {
		if f() {
			afterEachGC(f)
		}
	}, f)
}

// gcSentinel is the object afterEachGC leaves: it holds a pointer, so it
// is not one of the tiny allocator's (whose cleanups may never run).
type gcSentinel struct {
	_ *gcSentinel
	_ [8]byte
}
