package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// DefaultEtcdPrefix is where a cluster's keys live in etcd unless the
// configuration says otherwise; several clusters may share one etcd with
// different prefixes.
const DefaultEtcdPrefix = "/vnet/"

// etcdDialTimeout bounds the first connection: an unreachable etcd is an
// error at start, not a hang.
const etcdDialTimeout = 5 * time.Second

// EtcdConfig says how to reach etcd.
type EtcdConfig struct {
	Peers  []string // client URLs, e.g. http://127.0.0.1:2379; at least one
	Prefix string   // prepended to every key; default DefaultEtcdPrefix
	// DialTimeout bounds the first connection; default 5s.
	DialTimeout time.Duration
}

// CheckAndSetDefaults validates c and fills in defaults.
func (c *EtcdConfig) CheckAndSetDefaults() error {
	if len(c.Peers) == 0 {
		return errors.New("etcd: at least one peer is required (e.g. http://127.0.0.1:2379)")
	}
	for _, p := range c.Peers {
		if !strings.HasPrefix(p, "http://") && !strings.HasPrefix(p, "https://") {
			return fmt.Errorf("etcd peer %q: use a client URL such as http://127.0.0.1:2379", p)
		}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultEtcdPrefix
	}
	if !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("etcd prefix %q: must start with '/'", c.Prefix)
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = etcdDialTimeout
	}
	return nil
}

// Etcd is a Store in etcd, for clusters with several proxies. Keys are
// stored under a prefix; Create and CompareAndSwap are etcd transactions,
// so they are atomic across every process sharing the etcd.
type Etcd struct {
	cli    *clientv3.Client // never nil
	prefix string
	closed atomic.Bool
}

var _ Store = (*Etcd)(nil)

// OpenEtcd connects to etcd. It fails if no peer answers within the dial
// timeout.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*Etcd, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Peers,
		DialTimeout: cfg.DialTimeout,
		Context:     context.WithoutCancel(ctx),
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Peers, ","), err)
	}
	// clientv3.New does not wait for the server: ask it something so that
	// a wrong address fails here, with a message that names it.
	sctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	if _, err := cli.Get(sctx, cfg.Prefix, clientv3.WithCountOnly()); err != nil {
		cli.Close()
		return nil, fmt.Errorf("connect to etcd %s: %w", strings.Join(cfg.Peers, ","), err)
	}
	return &Etcd{cli: cli, prefix: cfg.Prefix}, nil
}

// check runs before every call: ctx first, then the store's state, then
// the key (List passes skipKey).
func (e *Etcd) check(ctx context.Context, key string, skipKey bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.closed.Load() {
		return ErrClosed
	}
	if skipKey {
		return nil
	}
	return checkKey(key)
}

// wrap names the operation and key, and turns the errors of a closed client
// or a canceled context into the ones the Store interface promises.
func (e *Etcd) wrap(ctx context.Context, op, key string, err error) error {
	switch {
	case e.closed.Load():
		return ErrClosed
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("%s %q: etcd: %w", op, key, err)
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) ([]byte, error) {
	if err := e.check(ctx, key, false); err != nil {
		return nil, err
	}
	res, err := e.cli.Get(ctx, e.prefix+key)
	if err != nil {
		return nil, e.wrap(ctx, "get", key, err)
	}
	if len(res.Kvs) == 0 {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return clone(res.Kvs[0].Value), nil
}

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, key string, value []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	if _, err := e.cli.Put(ctx, e.prefix+key, string(value)); err != nil {
		return e.wrap(ctx, "put", key, err)
	}
	return nil
}

// Create implements Store: a transaction on the key's create revision
// being 0 (absent).
func (e *Etcd) Create(ctx context.Context, key string, value []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	k := e.prefix + key
	res, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(value))).
		Commit()
	if err != nil {
		return e.wrap(ctx, "create", key, err)
	}
	if !res.Succeeded {
		return fmt.Errorf("create %q: %w", key, ErrExists)
	}
	return nil
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, key string) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	res, err := e.cli.Delete(ctx, e.prefix+key)
	if err != nil {
		return e.wrap(ctx, "delete", key, err)
	}
	if res.Deleted == 0 {
		return fmt.Errorf("delete %q: %w", key, ErrNotFound)
	}
	return nil
}

// List implements Store. etcd ranges are in byte order of the key, and
// the common prefix keeps that order.
func (e *Etcd) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := e.check(ctx, "", true); err != nil {
		return nil, err
	}
	res, err := e.cli.Get(ctx, e.prefix+prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, e.wrap(ctx, "list", prefix, err)
	}
	items := make([]Item, 0, len(res.Kvs))
	for _, kv := range res.Kvs {
		items = append(items, Item{Key: strings.TrimPrefix(string(kv.Key), e.prefix), Value: clone(kv.Value)})
	}
	if len(items) == 0 {
		return nil, nil
	}
	return items, nil
}

// CompareAndSwap implements Store: a transaction on the key existing with
// value old; on failure the same transaction reads the key to tell a
// missing key from a changed one.
func (e *Etcd) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	if err := e.check(ctx, key, false); err != nil {
		return err
	}
	k := e.prefix + key
	res, err := e.cli.Txn(ctx).
		If(
			clientv3.Compare(clientv3.CreateRevision(k), ">", 0),
			clientv3.Compare(clientv3.Value(k), "=", string(old)),
		).
		Then(clientv3.OpPut(k, string(new))).
		Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return e.wrap(ctx, "compare and swap", key, err)
	}
	if res.Succeeded {
		return nil
	}
	if len(res.Responses) == 1 && res.Responses[0].GetResponseRange().GetCount() == 0 {
		return fmt.Errorf("compare and swap %q: %w", key, ErrNotFound)
	}
	return fmt.Errorf("compare and swap %q: %w", key, ErrConflict)
}

// Close implements Store.
func (e *Etcd) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if err := e.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}
