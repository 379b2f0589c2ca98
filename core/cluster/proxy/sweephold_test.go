package proxy

import (
	"testing"
	"time"
)

// TestSweepHold: no sweep while the store is unavailable, nor for one
// registration lifetime after it answers again (the agents' renewals
// could not be written meanwhile); before any outage, and after that
// lifetime, sweeps run.
func TestSweepHold(t *testing.T) {
	const ttl = 15 * time.Second
	t0 := time.Unix(1_000_000, 0)
	var h sweepHold
	for _, step := range []struct {
		up    bool
		at    time.Duration
		sweep bool
	}{
		{true, 0, true},
		{false, 5 * time.Second, false},
		{false, 60 * time.Second, false},
		{true, 65 * time.Second, false}, // back, renewals still to land
		{true, 75 * time.Second, false},
		{true, 76 * time.Second, true}, // a lifetime after the last down beat
	} {
		if got := h.may(step.up, t0.Add(step.at), ttl); got != step.sweep {
			t.Fatalf("at %v (store up: %v): sweep = %v; want %v", step.at, step.up, got, step.sweep)
		}
	}
}
