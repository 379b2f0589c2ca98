package main

import (
	"math"
	"runtime"
	"testing"
)

// TestMemoryLimit: the soft limit is the floor while the live heap is
// small, and above it always leaves room for half the live heap again, so
// that a large live heap never makes the collector run back to back.
func TestMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live, nonHeap uint64
		want          int64
	}{
		{0, 0, memFloor},
		{4 * mib, 5 * mib, memFloor}, // idle
		{16 * mib, 6 * mib, memFloor},
		{20 * mib, 6 * mib, 36 * mib}, // eight busy connections
		{40 * mib, 6 * mib, 66 * mib},
		{100 * mib, 10 * mib, 160 * mib},
		{math.MaxUint64 / 2, math.MaxUint64 / 2, math.MaxInt64},
	} {
		if got := memoryLimit(c.live, c.nonHeap); got != c.want {
			t.Errorf("memoryLimit(%d MiB live, %d MiB other) = %d MiB, want %d MiB", c.live/mib, c.nonHeap/mib, got/mib, c.want/mib)
		}
	}
}

// TestAfterEachGC: the function runs after collections until it returns
// false, and not again after that.
func TestAfterEachGC(t *testing.T) {
	calls := make(chan int, 10)
	n := 0
	afterEachGC(func() bool {
		n++
		calls <- n
		return n < 3
	})
	for want := 1; want <= 3; {
		runtime.GC()
		select {
		case got := <-calls:
			if got != want {
				t.Fatalf("call %d, want %d", got, want)
			}
			want++
		default:
			runtime.Gosched()
		}
	}
	for range 3 {
		runtime.GC()
	}
	runtime.GC()
	select {
	case got := <-calls:
		t.Fatalf("call %d after f returned false", got)
	default:
	}
}
