package store

import (
	"context"
	"errors"
	"strings"
	"sync"
)

// ErrCompacted ends a watch that cannot deliver every change after the
// revision it was asked for: the store no longer holds them (etcd compacted
// its history, an embedded store was reopened), or the watcher fell too far
// behind. The watcher must re-sync: list again (Snapshot) and watch from
// that revision.
var ErrCompacted = errors.New("store: changes since that revision are gone: re-sync")

// Event is one committed change of a key.
type Event struct {
	// Revision is the store's revision after the change. Revisions grow
	// with every committed write; several events may share one when a
	// backend commits them together.
	Revision int64
	Key      string
	Value    []byte // nil when Deleted
	Deleted  bool
}

// Batch is what a watch delivers: events in revision order, or, last,
// why the watch ended.
type Batch struct {
	Events []Event
	// Err is set on the last batch only: ErrCompacted (re-sync), ErrClosed,
	// or the backend's error (etcd lost its leader). A watch ended by its
	// own ctx closes without one.
	Err error
}

// watchQueueMax bounds the events a watcher may have waiting. A watcher
// that lets more pile up is ended with ErrCompacted rather than slowing
// the writers or growing without bound; it re-syncs from a listing.
const watchQueueMax = 1 << 16

// historyLen is how many recent events an embedded store keeps so that a
// watch may start a little in the past (a watcher re-connecting).
const historyLen = 4096

// hub is the in-process fan-out of an embedded store's committed changes
// (Bolt, Memory): a revision counter, a bounded history, and the watchers.
// Backends call publish in revision order (under their own write lock).
type hub struct {
	mu      sync.Mutex
	rev     int64             // guarded by mu; the revision of the last change
	history []Event           // guarded by mu; the last historyLen events, oldest first
	subs    map[*watcher]bool // guarded by mu
	closed  bool              // guarded by mu
}

func newHub(rev int64) *hub { return &hub{rev: rev, subs: map[*watcher]bool{}} }

// revision is the revision of the last change.
func (h *hub) revision() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev
}

// publish records committed changes, in revision order: the backend
// numbered them from next under its write lock. The history keeps whole
// revisions: a watch from a revision it holds misses nothing.
func (h *hub) publish(evs ...Event) {
	if len(evs) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = evs[len(evs)-1].Revision
	h.history = append(h.history, evs...)
	if n := len(h.history); n > 2*historyLen {
		// Amortised: drop to about historyLen at once rather than one
		// event per change, and never part of a revision.
		drop := n - historyLen
		for drop < n && h.history[drop].Revision == h.history[drop-1].Revision {
			drop++
		}
		h.history = append(h.history[:0], h.history[drop:]...)
	}
	for w := range h.subs {
		var mine []Event
		for _, ev := range evs {
			if strings.HasPrefix(ev.Key, w.prefix) {
				mine = append(mine, ev)
			}
		}
		if len(mine) > 0 {
			w.push(mine, nil)
		}
	}
}

// next is the revision the next change will get. Called by a backend
// under its write lock.
func (h *hub) next() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rev + 1
}

// close ends every watch with ErrClosed.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for w := range h.subs {
		w.push(nil, ErrClosed)
		delete(h.subs, w)
	}
}

// watch implements Store.Watch for an embedded store.
func (h *hub) watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	w := &watcher{prefix: prefix, wake: make(chan struct{}, 1), out: make(chan Batch)}
	h.mu.Lock()
	oldest := h.rev + 1 // the first revision the history holds
	if len(h.history) > 0 {
		oldest = h.history[0].Revision
	}
	switch {
	case h.closed:
		w.push(nil, ErrClosed)
	case after < oldest-1 || after > h.rev:
		// Before the history, or a revision this store never had (the
		// watcher saw another incarnation of it).
		w.push(nil, ErrCompacted)
	default:
		var past []Event
		for _, ev := range h.history {
			if ev.Revision > after && strings.HasPrefix(ev.Key, prefix) {
				past = append(past, ev)
			}
		}
		if len(past) > 0 {
			w.push(past, nil)
		}
		h.subs[w] = true
	}
	h.mu.Unlock()
	go func() {
		w.run(ctx)
		h.mu.Lock()
		delete(h.subs, w)
		h.mu.Unlock()
	}()
	return w.out
}

// watcher is one watch of an embedded store: a bounded queue between the
// hub (which never blocks on it) and the watch's channel.
type watcher struct {
	prefix string
	wake   chan struct{} // capacity 1: the queue changed
	out    chan Batch    // closed by run

	mu     sync.Mutex
	queue  []Event // guarded by mu
	err    error   // guarded by mu; the end, delivered after queue
	queued int     // guarded by mu; len(queue), bounded by watchQueueMax
}

// push queues events, or the watch's end. Never blocks.
func (w *watcher) push(evs []Event, err error) {
	w.mu.Lock()
	if w.err == nil {
		switch {
		case err != nil:
			w.err = err
		case w.queued+len(evs) > watchQueueMax:
			w.queue, w.queued, w.err = nil, 0, ErrCompacted
		default:
			w.queue = append(w.queue, evs...)
			w.queued += len(evs)
		}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run delivers the queue until ctx is done or the watch ended.
func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	for {
		w.mu.Lock()
		evs, err := w.queue, w.err
		w.queue, w.queued = nil, 0
		w.mu.Unlock()
		if len(evs) > 0 {
			select {
			case w.out <- Batch{Events: evs}:
			case <-ctx.Done():
				return
			}
			continue
		}
		if err != nil {
			select {
			case w.out <- Batch{Err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-w.wake:
		case <-ctx.Done():
			return
		}
	}
}

// put is the change a write of value to key makes; the value is copied.
func put(key string, value []byte) *Event { return &Event{Key: key, Value: clone(value)} }
