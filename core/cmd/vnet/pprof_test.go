package main

import (
	"strings"
	"testing"
)

// TestPprofLoopbackOnly: VNET_PPROF_ADDR refuses an address off loopback
// (profiles and goroutine dumps name clusters and addresses), and unset
// it serves nothing.
func TestPprofLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "nonsense"} {
		t.Setenv(pprofEnv, addr)
		if err := startPprof(); err == nil || !strings.Contains(err.Error(), pprofEnv) {
			t.Errorf("%s=%s: %v, want a refusal that names the variable", pprofEnv, addr, err)
		}
	}
	t.Setenv(pprofEnv, "")
	if err := startPprof(); err != nil {
		t.Errorf("unset: %v", err)
	}
}
