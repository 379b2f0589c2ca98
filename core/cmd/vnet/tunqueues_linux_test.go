package main

import (
	"testing"

	"github.com/vnetproject/vnet/core/platform"
)

// VNET_TUN_QUEUES picks the TUN's queues within the helper's bounds; a bad
// value stops vnet up with one line rather than being ignored.
func TestTUNQueuesFromEnv(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want int // 0: an error
	}{
		{"", platform.DefaultTUNQueues},
		{"1", 1},
		{"4", 4},
		{"0", 0},
		{"-2", 0},
		{"9", 0},
		{"two", 0},
	} {
		t.Setenv(envTUNQueues, tt.env)
		got, err := tunQueues()
		if tt.want == 0 && err == nil || tt.want != 0 && (err != nil || got != tt.want) {
			t.Errorf("%s=%q: %d, %v; want %d", envTUNQueues, tt.env, got, err, tt.want)
		}
	}
}
