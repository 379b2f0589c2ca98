package main

import "testing"

// TestMemoryLimitFollowsLiveHeap: the soft limit is upMemoryLimit while
// the live heap is small, and twice the live heap once a large catalog
// holds more (issue 13: under 40 MiB with 100,000 apps the GC never
// stopped).
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	for _, tc := range []struct{ live, want int64 }{
		{0, upMemoryLimit},
		{upMemoryLimit / 2, upMemoryLimit},
		{upMemoryLimit, 2 * upMemoryLimit},
		{150 << 20, 300 << 20},
	} {
		if got := memoryLimitFor(tc.live); got != tc.want {
			t.Errorf("memoryLimitFor(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}
