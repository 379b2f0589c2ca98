package store

import (
	"bytes"
	"context"
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

// boltOpenTimeout bounds the wait for the file lock: bbolt takes an
// exclusive flock and by default waits for it forever, which would make a
// second "vnet cluster start" on the same data directory hang silently.
const boltOpenTimeout = time.Second

// Bolt is a Store in a single bbolt file: the default backend, embedded in
// the cluster daemon. Only one process can open the file at a time.
type Bolt struct {
	path string
	db   *bolt.DB // never nil; closed by Close

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
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: create bucket: %w", path, err)
	}
	return &Bolt{path: path, db: db}, nil
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

// update runs fn in a write transaction after checking ctx and key.
func (b *Bolt) update(ctx context.Context, key string, fn func(*bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	return b.closedErr(b.db.Update(func(tx *bolt.Tx) error { return fn(tx.Bucket(boltBucket)) }))
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
	return b.update(ctx, key, func(bk *bolt.Bucket) error {
		if err := bk.Put([]byte(key), value); err != nil {
			return fmt.Errorf("put %q: %w", key, err)
		}
		return nil
	})
}

// Create implements Store.
func (b *Bolt) Create(ctx context.Context, key string, value []byte) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) error {
		if _, ok := lookup(bk, []byte(key)); ok {
			return fmt.Errorf("create %q: %w", key, ErrExists)
		}
		if err := bk.Put([]byte(key), value); err != nil {
			return fmt.Errorf("create %q: %w", key, err)
		}
		return nil
	})
}

// Delete implements Store.
func (b *Bolt) Delete(ctx context.Context, key string) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) error {
		if _, ok := lookup(bk, []byte(key)); !ok {
			return fmt.Errorf("delete %q: %w", key, ErrNotFound)
		}
		if err := bk.Delete([]byte(key)); err != nil {
			return fmt.Errorf("delete %q: %w", key, err)
		}
		return nil
	})
}

// List implements Store.
func (b *Bolt) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var items []Item
	err := b.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(boltBucket).Cursor()
		p := []byte(prefix)
		// bbolt keeps keys in byte order, the order List promises.
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			items = append(items, Item{Key: string(k), Value: clone(v)})
		}
		return nil
	})
	if err != nil {
		return nil, b.closedErr(err)
	}
	return items, nil
}

// CompareAndSwap implements Store.
func (b *Bolt) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	return b.update(ctx, key, func(bk *bolt.Bucket) error {
		cur, ok := lookup(bk, []byte(key))
		if !ok {
			return fmt.Errorf("compare and swap %q: %w", key, ErrNotFound)
		}
		if !bytes.Equal(cur, old) {
			return fmt.Errorf("compare and swap %q: %w", key, ErrConflict)
		}
		if err := bk.Put([]byte(key), new); err != nil {
			return fmt.Errorf("compare and swap %q: %w", key, err)
		}
		return nil
	})
}

// Close implements Store. It waits for transactions in progress.
func (b *Bolt) Close() error {
	b.closeOnce.Do(func() {
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("close %s: %w", b.path, err)
		}
	})
	return b.closeErr
}
