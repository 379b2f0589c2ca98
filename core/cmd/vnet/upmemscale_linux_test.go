package main

import "testing"

// TestMemoryLimitFollowsLiveHeap: the soft limit stays the one set at
// start while the live heap is small, and is twice the live heap once a
// large catalog holds more (issue 13: under 40 MiB with 100,000 apps the
// GC never stopped).
func TestMemoryLimitFollowsLiveHeap(t *testing.T) {
	const floor = 40 << 20
	for _, tc := range []struct{ live, want int64 }{
		{0, floor},
		{floor / 2, floor},
		{floor, 2 * floor},
		{150 << 20, 300 << 20},
	} {
		if got := memoryLimitFor(floor, tc.live); got != tc.want {
			t.Errorf("memoryLimitFor(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}
