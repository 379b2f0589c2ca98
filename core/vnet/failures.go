package vnet

import (
	"sync"
	"time"
)

// failures remembers the last failed dial of each app: a TCP client only
// sees "connection refused", so status and diag show what the cluster said.
// One entry per app ever dialled: bounded by the catalog.
type failures struct {
	mu sync.Mutex
	m  map[appRef]failure // guarded by mu
}

type failure struct {
	err string
	at  time.Time
}

func (f *failures) put(ref appRef, err string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[appRef]failure{}
	}
	f.m[ref] = failure{err: err, at: time.Now()}
}

func (f *failures) get(ref appRef) (failure, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	x, ok := f.m[ref]
	return x, ok
}
