package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// boltBucket holds every key. One flat bucket keeps the key space the same
// as etcd's, where '/' in a key is just a byte.
var boltBucket = []byte("vnet")

// boltMeta holds the store's own bookkeeping, apart from the keys:
// boltRevision, the revision of the last change (8 bytes, big-endian),
// kept in the same transaction as the change so a reopened file goes on
// counting where it stopped.
var (
	boltMeta     = []byte("vnet-meta")
	boltRevision = []byte("revision")
)

// boltOpenTimeout bounds the wait for the file lock: bbolt takes an
// exclusive flock and by default waits for it forever, which would make a
// second "vnet cluster start" on the same data directory hang silently.
const boltOpenTimeout = time.Second

// Bolt is a Store in a single bbolt file: the default backend, embedded in
// the cluster daemon. Only one process can open the file at a time.
type Bolt struct {
	path string
	db   *bolt.DB // never nil; closed by Close
	hub  *hub     // never nil; the committed changes, for Watch

	// wmu is held across a write transaction and the publishing of its
	// change, so that watchers see changes in revision order. bbolt
	// serialises writers anyway.
	wmu sync.Mutex

	closeOnce sync.Once
	closeErr  error // set once by Close
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens the database at path, creating it with mode 0600 if it does
// not exist. The directory must exist. If another process holds the file it
// returns an error wrapping ErrLocked after about a second.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: boltOpenTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	var rev int64
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(boltBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(boltMeta)
		if err != nil {
			return err
		}
		rev = boltRev(meta)
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: create bucket: %w", path, err)
	}
	return &Bolt{path: path, db: db, hub: newHub(rev)}, nil
}

// boltRev reads the revision of the last change from the meta bucket.
func boltRev(meta *bolt.Bucket) int64 {
	v := meta.Get(boltRevision)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// view runs fn in a read transaction after checking ctx and key.
func (b *Bolt) view(ctx context.Context, key string, fn func(*bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return b.closedErr(b.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket(boltBucket)) }))
}

// update runs fn in a write transaction after checking ctx and key. fn
// returns the change it made, if any: update gives it the next revision,
// stores that in the same transaction, and publishes the change to
// watchers once it is committed.
func (b *Bolt) update(ctx context.Context, key string, fn func(*bolt.Bucket) (*Event, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	var ev *Event
	err := b.db.Update(func(tx *bolt.Tx) error {
		var err error
		if ev, err = fn(tx.Bucket(boltBucket)); err != nil || ev == nil {
			return err
		}
		meta := tx.Bucket(boltMeta)
		ev.Revision = boltRev(meta) + 1
		return meta.Put(boltRevision, binary.BigEndian.AppendUint64(nil, uint64(ev.Revision)))
	})
	if err != nil {
		return b.closedErr(err)
	}
	if ev != nil {
		b.hub.publish(*ev)
	}
	return nil
}

// closedErr turns bbolt's "database not open" into ErrClosed.
func (b *Bolt) closedErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// lookup returns key's value in bk. It uses a cursor rather than Get, whose
// nil result cannot tell a missing key from an empty value.
func lookup(bk *bolt.Bucket, key []byte) ([]byte, bool) {
	k, v := bk.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := b.view(ctx, key, func(bk *bolt.Bucket) error {
		v, ok := lookup(bk, []byte(key))
		if !ok {
			return fmt.Errorf("get %q: %w", key, ErrNotFound)
		}
		out = clone(v) // v is only valid inside the transaction
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Put implements Store.
func (b *Bolt) Put(ctx context.Context, key string, value []byte) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) (*Event, error) {
		if err := bk.Put([]byte(key), value); err != nil {
			return nil, fmt.Errorf("put %q: %w", key, err)
		}
		return put(key, value), nil
	})
}

// boltBatch bounds the keys written in one transaction by PutAll: one
// file sync for many keys, without one huge transaction in memory.
const boltBatch = 10000

// PutAll implements Store: a transaction per boltBatch items, each one
// revision.
func (b *Bolt) PutAll(ctx context.Context, items []Item) error {
	for len(items) > 0 {
		n := min(len(items), boltBatch)
		if err := b.putBatch(ctx, items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

func (b *Bolt) putBatch(ctx context.Context, items []Item) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, it := range items {
		if err := checkKey(it.Key); err != nil {
			return err
		}
	}
	b.wmu.Lock()
	defer b.wmu.Unlock()
	evs := make([]Event, 0, len(items))
	err := b.db.Update(func(tx *bolt.Tx) error {
		bk, meta := tx.Bucket(boltBucket), tx.Bucket(boltMeta)
		rev := boltRev(meta) + 1
		for _, it := range items {
			if err := bk.Put([]byte(it.Key), it.Value); err != nil {
				return fmt.Errorf("put %q: %w", it.Key, err)
			}
			ev := put(it.Key, it.Value)
			ev.Revision = rev
			evs = append(evs, *ev)
		}
		return meta.Put(boltRevision, binary.BigEndian.AppendUint64(nil, uint64(rev)))
	})
	if err != nil {
		return b.closedErr(err)
	}
	b.hub.publish(evs...)
	return nil
}

// Create implements Store.
func (b *Bolt) Create(ctx context.Context, key string, value []byte) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) (*Event, error) {
		if _, ok := lookup(bk, []byte(key)); ok {
			return nil, fmt.Errorf("create %q: %w", key, ErrExists)
		}
		if err := bk.Put([]byte(key), value); err != nil {
			return nil, fmt.Errorf("create %q: %w", key, err)
		}
		return put(key, value), nil
	})
}

// Delete implements Store.
func (b *Bolt) Delete(ctx context.Context, key string) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) (*Event, error) {
		if _, ok := lookup(bk, []byte(key)); !ok {
			return nil, fmt.Errorf("delete %q: %w", key, ErrNotFound)
		}
		if err := bk.Delete([]byte(key)); err != nil {
			return nil, fmt.Errorf("delete %q: %w", key, err)
		}
		return &Event{Key: key, Deleted: true}, nil
	})
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, prefix string) ([]Item, error) {
	items, _, err := b.Snapshot(ctx, prefix)
	return items, err
}

// Snapshot implements Store: the revision is read in the listing's
// transaction.
func (b *Bolt) Snapshot(ctx context.Context, prefix string) ([]Item, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var items []Item
	var rev int64
	err := b.db.View(func(tx *bolt.Tx) error {
		rev = boltRev(tx.Bucket(boltMeta))
		c := tx.Bucket(boltBucket).Cursor()
		p := []byte(prefix)
		// bbolt keeps keys in byte order, the order List promises.
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			items = append(items, Item{Key: string(k), Value: clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, 0, b.closedErr(err)
	}
	return items, rev, nil
}

// Watch implements Store. The last historyLen changes since the file was
// opened can be watched from; anything older is ErrCompacted.
func (b *Bolt) Watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	return b.hub.watch(ctx, prefix, after)
}

// CompareAndSwap implements Store.
func (b *Bolt) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) (*Event, error) {
		cur, ok := lookup(bk, []byte(key))
		if !ok {
			return nil, fmt.Errorf("compare and swap %q: %w", key, ErrNotFound)
		}
		if !bytes.Equal(cur, old) {
			return nil, fmt.Errorf("compare and swap %q: %w", key, ErrConflict)
		}
		if err := bk.Put([]byte(key), new); err != nil {
			return nil, fmt.Errorf("compare and swap %q: %w", key, err)
		}
		return put(key, new), nil
	})
}

// Close implements Store. It waits for transactions in progress.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		b.hub.close()
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("close %s: %w", b.path, err)
		}
	})
	return b.closeErr
}
