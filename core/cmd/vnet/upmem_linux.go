package main

import (
	"os"
	"runtime/debug"
)

// upMemoryLimit is vnet up's soft memory limit (runtime/debug.SetMemoryLimit)
// unless GOMEMLIMIT sets another. Under iperf3 -P 8 the netstack's
// per-connection TCP buffers and the heap's GC headroom took vnet up to
// 136 MiB resident; with this limit the GC runs earlier and the peak was
// 69 MiB in the same bench, with throughput within the machine's noise
// (docs/benchmarks.md, "Profile-driven levers"). It is soft: a heap that
// needs more gets it, at the cost of more GC work, never an error.
const upMemoryLimit = 40 << 20

// setUpMemoryLimit applies upMemoryLimit unless GOMEMLIMIT is set.
func setUpMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(upMemoryLimit)
	}
}
