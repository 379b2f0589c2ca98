package store

import (
	"context"
	"errors"
)

// Outcomes a caller acts on. Backends wrap them with the key concerned; test
// with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrExists: Create found the key already present.
	ErrExists = errors.New("store: key already exists")
	// ErrConflict: CompareAndSwap found a value other than the expected one.
	ErrConflict = errors.New("store: value changed concurrently")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrLocked: OpenBolt found the database file held by another process.
	ErrLocked = errors.New("store: database is locked by another process")
)

// Item is one key and its value.
type Item struct {
	Key   string
	Value []byte
}

// Store is the cluster's key-value state. Keys are non-empty strings; values
// are opaque bytes, copied in and out (a caller may modify a slice it passed
// or received). Every method is safe for concurrent use and returns ctx's
// error if ctx is done before it starts.
type Store interface {
	// Get returns key's value, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put creates key or overwrites its value.
	Put(ctx context.Context, key string, value []byte) error
	// Create stores value under key atomically if key is absent, and returns
	// ErrExists otherwise.
	Create(ctx context.Context, key string, value []byte) error
	// Delete removes key, or returns ErrNotFound.
	Delete(ctx context.Context, key string) error
	// List returns the items whose keys start with prefix, sorted by key
	// (byte order). An empty prefix lists everything; no match is an empty
	// result, not an error.
	List(ctx context.Context, prefix string) ([]Item, error)
	// CompareAndSwap replaces key's value with new if it currently equals old
	// (an empty value equals nil), atomically. It returns ErrNotFound if key
	// is absent and ErrConflict if the value differs; of several concurrent
	// swaps from the same old value exactly one succeeds, which is what makes
	// a one-time token usable once.
	CompareAndSwap(ctx context.Context, key string, old, new []byte) error
	// PutAll creates or overwrites every item, in as few commits as the
	// backend allows (each is atomic; together they are not): one write
	// of many keys, such as a cluster's static apps at start.
	PutAll(ctx context.Context, items []Item) error
	// Snapshot is List, and the revision the listing reflects: a Watch
	// from that revision delivers every later change, and none before.
	Snapshot(ctx context.Context, prefix string) ([]Item, int64, error)
	// Watch delivers the changes of keys starting with prefix committed
	// after revision after, in revision order, until ctx is done (the
	// channel then closes) or the watch ends (a last Batch with Err, then
	// the channel closes). A revision whose changes the store no longer
	// holds, or a watcher left too far behind, ends it with ErrCompacted:
	// re-sync from Snapshot. Writers never wait for watchers.
	Watch(ctx context.Context, prefix string, after int64) <-chan Batch
	// Close releases the store. It is idempotent; other methods return
	// ErrClosed afterwards.
	Close() error
}

// checkKey rejects keys no backend can hold.
func checkKey(key string) error {
	if key == "" {
		return errors.New("store: empty key")
	}
	return nil
}
