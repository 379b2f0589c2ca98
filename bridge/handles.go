package main

import (
	"sync"
)

// handles maps the integer handles C holds to instances: no Go pointer
// ever crosses to C. Handles count up from 1 and are never reused, so a
// stale handle finds nothing instead of someone else's instance.
type handles struct {
	mu    sync.Mutex
	last  int64               // guarded by mu
	byKey map[int64]*instance // guarded by mu
}

var instances = &handles{byKey: map[int64]*instance{}}

// add registers in and returns its handle.
func (h *handles) add(in *instance) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last++
	h.byKey[h.last] = in
	return h.last
}

// get returns the instance of handle, or nil.
func (h *handles) get(handle int64) *instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byKey[handle]
}

// remove forgets handle and returns its instance, or nil; only one caller
// gets it, so only one stops it.
func (h *handles) remove(handle int64) *instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	in := h.byKey[handle]
	delete(h.byKey, handle)
	return in
}
