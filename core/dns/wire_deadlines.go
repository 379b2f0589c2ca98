package dns

import (
	"container/heap"
	"sync"
	"time"
)

// wireDeadlines hands the queries a pool forwarded on the wire over to
// an Exchange when their deadline passes without an answer: one timer per
// pool, set for the earliest deadline, rather than one per query.
type wireDeadlines struct {
	mu      sync.Mutex
	waits   deadlineHeap // guarded by mu
	timer   *time.Timer  // guarded by mu; nil until the first add
	armedAt time.Time    // guarded by mu; what timer is set for; zero: not set
	stopped bool         // guarded by mu
}

// add starts counting ww's deadline.
func (d *wireDeadlines) add(ww *wireWait) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return // the pool is closed: its close hands ww over
	}
	heap.Push(&d.waits, ww)
	if !d.armedAt.IsZero() && !ww.deadline.Before(d.armedAt) {
		return
	}
	d.armedAt = ww.deadline
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(ww.deadline), d.expire)
	} else {
		d.timer.Reset(time.Until(ww.deadline))
	}
}

// remove stops counting ww's deadline, if it still is.
func (d *wireDeadlines) remove(ww *wireWait) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ww.index >= 0 {
		heap.Remove(&d.waits, ww.index)
	}
}

// expire hands over every query whose deadline has passed, and sets the
// timer for the next.
func (d *wireDeadlines) expire() {
	var due []*wireWait
	d.mu.Lock()
	now := time.Now()
	for len(d.waits) > 0 && !d.waits[0].deadline.After(now) {
		due = append(due, heap.Pop(&d.waits).(*wireWait))
	}
	d.armedAt = time.Time{}
	if len(d.waits) > 0 && !d.stopped {
		d.armedAt = d.waits[0].deadline
		d.timer.Reset(d.armedAt.Sub(now))
	}
	d.mu.Unlock()
	for _, ww := range due {
		s := ww.s
		s.mu.Lock()
		var h *handover
		if w := s.pending[ww.id]; w != nil && w.wire == ww {
			h = s.handOverLocked(ww.id, w, nil)
		}
		s.mu.Unlock()
		if h != nil {
			ww.x.done(nil, h)
		}
	}
}

// stop stops the timer; the pool's close has handed every query over.
func (d *wireDeadlines) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
	}
	for _, ww := range d.waits {
		ww.index = -1
	}
	d.waits = nil
}

// deadlineHeap orders queries by deadline (container/heap).
type deadlineHeap []*wireWait

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deadlineHeap) Push(x any) {
	ww := x.(*wireWait)
	ww.index = len(*h)
	*h = append(*h, ww)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	ww := old[len(old)-1]
	old[len(old)-1] = nil
	ww.index = -1
	*h = old[:len(old)-1]
	return ww
}
