package dns

import (
	"slices"
	"sync"
	"time"
)

const (
	// staggerHealthy is how long an Exchange waits for a healthy server
	// before it also asks the next one (tailscale's forwarder staggers
	// its upstreams the same way).
	staggerHealthy = 200 * time.Millisecond
	// staggerDown is that wait before a server that is down is asked: in
	// practice only when every healthy one failed or answered with an
	// error, which starts the next server at once.
	staggerDown = 2 * time.Second
	// downFor is how long a server that missed a query stays down. Then
	// it is healthy again and gets its place in the order back; if it is
	// still dead that costs one query staggerHealthy.
	downFor = 30 * time.Second
)

// health remembers which upstream servers missed a query lately, so that a
// dead server is asked last instead of first and does not cost every query
// its timeout. A server is down from the moment it misses a query (no
// answer, or a network error, while another server answered or the
// Exchange timed out) until downFor later or until it answers.
type health struct {
	now func() time.Time // never nil; guarded by mu; time.Now but in tests

	// allUp is the plan when no server is down, made once: the usual
	// case costs no allocation. Read-only.
	allUpOrder []int
	allUpDelay []time.Duration

	mu        sync.Mutex
	downUntil []time.Time // guarded by mu; by server index; zero: healthy
	downs     int         // guarded by mu; entries of downUntil not zero
}

func newHealth(n int) *health {
	h := &health{now: time.Now, downUntil: make([]time.Time, n)}
	for i := range n {
		h.allUpOrder = append(h.allUpOrder, i)
		h.allUpDelay = append(h.allUpDelay, min(time.Duration(i), 1)*staggerHealthy)
	}
	return h
}

// plan is the order in which to ask the servers and, for each, how long
// after the previous one it starts: healthy servers first in their
// configured order, then the down ones, the one down longest first. The
// caller must not modify what it returns.
func (h *health) plan() (order []int, delay []time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downs == 0 {
		return h.allUpOrder, h.allUpDelay
	}
	now := h.now()
	order = make([]int, len(h.downUntil))
	for i := range order {
		order[i] = i
	}
	down := func(i int) bool { return now.Before(h.downUntil[i]) }
	slices.SortStableFunc(order, func(a, b int) int {
		switch da, db := down(a), down(b); {
		case da != db:
			if da {
				return 1
			}
			return -1
		case da:
			return h.downUntil[a].Compare(h.downUntil[b])
		}
		return 0
	})
	delay = make([]time.Duration, len(order))
	for k, i := range order {
		switch {
		case k == 0:
			delay[k] = 0
		case down(i):
			delay[k] = staggerDown
		default:
			delay[k] = staggerHealthy
		}
	}
	return order, delay
}

// answered marks server i healthy.
func (h *health) answered(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.downUntil[i].IsZero() {
		h.downUntil[i] = time.Time{}
		h.downs--
	}
}

// missed marks server i down for downFor.
func (h *health) missed(i int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.downUntil[i].IsZero() {
		h.downs++
	}
	h.downUntil[i] = h.now().Add(downFor)
}
