package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/vnetproject/vnet/core/platform"
)

// envTUNQueues overrides how many queues the engine asks the helper for
// (platform.DefaultTUNQueues, one): with N, the TUN has N queues, each
// read on a goroutine of its own (issue 12; one per CPU is the sensible
// most).
const envTUNQueues = "VNET_TUN_QUEUES"

// tunQueues is the number of TUN queues the engine asks for.
func tunQueues() (int, error) {
	s := os.Getenv(envTUNQueues)
	if s == "" {
		return platform.DefaultTUNQueues, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > platform.MaxTUNQueues {
		return 0, fmt.Errorf("%s=%q: want 1 to %d", envTUNQueues, s, platform.MaxTUNQueues)
	}
	return n, nil
}
