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
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory Store.
func NewMemory() *Memory {
	return &Memory{items: make(map[string][]byte)}
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
	return nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	var items []Item
	for k, v := range m.items {
		if strings.HasPrefix(k, prefix) {
			items = append(items, Item{Key: k, Value: clone(v)})
		}
	}
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	return items, nil
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
	return nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.items = nil
	return nil
}

// clone copies v, keeping an empty value non-nil so every backend returns
// the same thing for it.
func clone(v []byte) []byte {
	return append([]byte{}, v...)
}
