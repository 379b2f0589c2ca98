package dns

import "time"

// Hooks for the external tests.

// SocketUses is how many queries a pooled socket carries.
const SocketUses = socketUses

// SetForwarderClock makes f's health bookkeeping read the time from now.
func SetForwarderClock(f *Forwarder, now func() time.Time) {
	f.health.mu.Lock()
	defer f.health.mu.Unlock()
	f.health.now = now
}

// ForwarderDropped is how many answers f's sockets dropped: late, not
// ours, or to another question.
func ForwarderDropped(f *Forwarder) uint64 {
	var n uint64
	for _, p := range f.pools {
		n += p.dropped.Load()
	}
	return n
}

// ForwarderDown reports which of f's servers are down now.
func ForwarderDown(f *Forwarder) []bool {
	h := f.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	out := make([]bool, len(h.downUntil))
	for i, t := range h.downUntil {
		out[i] = now.Before(t)
	}
	return out
}
