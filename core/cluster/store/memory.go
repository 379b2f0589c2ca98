package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Memory is a Store held in memory, for tests of other packages. The zero
// value is not usable; call NewMemory.
type Memory struct {
	mu     sync.Mutex
	items  map[string][]byte // guarded by mu; values are owned copies
	closed bool              // guarded by mu
	hub    *hub              // never nil; published to under mu, in revision order
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{items: make(map[string][]byte), hub: newHub(0)}
}

// changed publishes a change. Called with mu held.
func (m *Memory) changed(ev *Event) {
	ev.Revision = m.hub.next()
	m.hub.publish(*ev)
}

// lock checks ctx and key, then takes mu. On success the caller must unlock.
func (m *Memory) lock(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.lock(ctx, key); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	v, ok := m.items[key]
	if !ok {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return clone(v), nil
}

// Put implements Store.
func (m *Memory) Put(ctx context.Context, key string, value []byte) error {
	if err := m.lock(ctx, key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	m.items[key] = clone(value)
	m.changed(put(key, value))
	return nil
}

// PutAll implements Store: one revision for all.
func (m *Memory) PutAll(ctx context.Context, items []Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, it := range items {
		if err := checkKey(it.Key); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	rev := m.hub.next()
	evs := make([]Event, 0, len(items))
	for _, it := range items {
		m.items[it.Key] = clone(it.Value)
		ev := put(it.Key, it.Value)
		ev.Revision = rev
		evs = append(evs, *ev)
	}
	m.hub.publish(evs...)
	return nil
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, key string, value []byte) error {
	if err := m.lock(ctx, key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.items[key]; ok {
		return fmt.Errorf("create %q: %w", key, ErrExists)
	}
	m.items[key] = clone(value)
	m.changed(put(key, value))
	return nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := m.lock(ctx, key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.items[key]; !ok {
		return fmt.Errorf("delete %q: %w", key, ErrNotFound)
	}
	delete(m.items, key)
	m.changed(&Event{Key: key, Deleted: true})
	return nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) ([]Item, error) {
	items, _, err := m.Snapshot(ctx, prefix)
	return items, err
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	return m.hub.watch(ctx, prefix, after)
}

// Snapshot implements Store.
func (m *Memory) Snapshot(ctx context.Context, prefix string) ([]Item, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, 0, ErrClosed
	}
	var items []Item
	for k, v := range m.items {
		if strings.HasPrefix(k, prefix) {
			items = append(items, Item{Key: k, Value: clone(v)})
		}
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	return items, m.hub.revision(), nil
}

// CompareAndSwap implements Store.
func (m *Memory) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	if err := m.lock(ctx, key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	cur, ok := m.items[key]
	if !ok {
		return fmt.Errorf("compare and swap %q: %w", key, ErrNotFound)
	}
	if !bytes.Equal(cur, old) {
		return fmt.Errorf("compare and swap %q: %w", key, ErrConflict)
	}
	m.items[key] = clone(new)
	m.changed(put(key, new))
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.hub.close()
	}
	m.closed = true
	m.items = nil
	return nil
}

// clone copies v, keeping an empty value non-nil so every backend returns
// the same thing for it.
func clone(v []byte) []byte {
	return append([]byte{}, v...)
}
