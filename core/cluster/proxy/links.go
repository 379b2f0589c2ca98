package proxy

import (
	"sort"
	"sync"
)

// linkSet holds the control streams attached to this proxy (agents' or
// leaf clusters'), one per key: a peer that reconnects before its old
// stream has ended replaces it.
type linkSet[L any] struct {
	mu       sync.Mutex
	m        map[string]*L // guarded by mu
	attached chan struct{} // guarded by mu; closed and replaced at each attach, nil until asked for
}

// attach makes l the link of key and returns the one it replaces, if any.
func (s *linkSet[L]) attach(key string, l *L) (old *L) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*L{}
	}
	old = s.m[key]
	s.m[key] = l
	if s.attached != nil {
		close(s.attached)
		s.attached = nil
	}
	return old
}

// attachedSignal returns a channel closed at the next attach: taken
// before looking at the set, it tells a waiter that what it saw changed.
func (s *linkSet[L]) attachedSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached == nil {
		s.attached = make(chan struct{})
	}
	return s.attached
}

// detach removes l if it is still the link of key.
func (s *linkSet[L]) detach(key string, l *L) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == l {
		delete(s.m, key)
	}
}

// get is the link of key, or nil.
func (s *linkSet[L]) get(key string) *L {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

// all returns every link, sorted by key.
func (s *linkSet[L]) all() []*L {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*L, len(keys))
	for i, k := range keys {
		out[i] = s.m[k]
	}
	return out
}
