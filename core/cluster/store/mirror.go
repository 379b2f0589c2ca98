package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxStale is how long a Mirror answers reads from its copy after the
// store became unavailable; later reads fail with the store's error. It
// bounds how long a proxy cut off from an etcd that still has its quorum
// (and that another proxy writes to) serves what it knew: a user removed
// through the other proxy meanwhile could still connect through this one.
const MaxStale = time.Hour

// mirrorSkip are the keys a Mirror does not copy: the audit log is
// written, never read to serve a user, and is the largest set of keys.
var mirrorSkip = []string{"/audit/"}

// mirrorProbe is how often a Mirror asks the store for a key while its
// watch is quiet: a watch whose connection is cut retries silently, and
// only a read tells that the store is gone. probeKey is never written:
// "not found" is the healthy answer.
var mirrorProbe = 5 * time.Second

const probeKey = "/vnet-probe"

// mirrorRetry spaces the attempts to list the store again while it is
// unavailable: each is also the check that it came back.
var mirrorRetry = struct{ min, max time.Duration }{100 * time.Millisecond, 2 * time.Second}

// Mirror is a Store over another (etcd) that keeps a copy of its keys,
// followed through its Watch, and answers reads (Get, List) from that
// copy while the store is unavailable (ErrUnavailable). The copy is the
// store as of the last change the watch delivered: a removal committed
// before the store went away is in it, so a removed user stays removed.
// Writes, Snapshot and Watch always go to the store: a write fails while
// it is unavailable, and a follower must see the store itself.
//
// NewMirror, then Close (which closes the store too).
type Mirror struct {
	st  Store // never nil
	log *slog.Logger

	cancel context.CancelFunc
	done   chan struct{} // closed when the follower has ended

	mu    sync.RWMutex
	items map[string][]byte // guarded by mu; the copy, by key
	rev   int64             // guarded by mu; of the last change applied
	down  error             // guarded by mu; why the store is unavailable, nil while it answers
	since time.Time         // guarded by mu; when down was set
	// follow ends the current watch, so that the follower lists again:
	// set while a watch runs. Guarded by mu.
	follow context.CancelFunc
	// changed is closed (and replaced) when down is set or cleared.
	// Guarded by mu; never nil.
	changed chan struct{}
	// delegates answer for the keys under their prefix, which the copy
	// does not hold. Guarded by mu.
	delegates []delegate
	// up is canceled when the store is found unavailable: the reads in
	// flight to it then end and are answered from the copy, instead of
	// waiting out their bound (an etcd read waits for a leader that is
	// gone). Replaced when the store answers again. Guarded by mu.
	up     context.Context
	downed context.CancelFunc
}

// Source answers, from a copy kept elsewhere in the process, the reads of
// the keys under a prefix: values as the store holds them (or in a form
// that parses the same), lists sorted by key.
type Source interface {
	Get(key string) ([]byte, bool)
	List(prefix string) []Item
}

type delegate struct {
	prefix string
	src    Source
}

// Delegate makes src answer for the keys under prefix from now on, and
// drops them from the copy: a proxy's catalog cache already holds every
// app, and a second copy of 100,000 apps would only cost memory. src must
// follow the store's changes as the Mirror does.
func (m *Mirror) Delegate(prefix string, src Source) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.delegates = append(m.delegates, delegate{prefix, src})
	for k := range m.items {
		if strings.HasPrefix(k, prefix) {
			delete(m.items, k)
		}
	}
}

// heldLocked reports whether the copy holds key. Called with mu held.
func (m *Mirror) heldLocked(key string) bool {
	if skipped(key) {
		return false
	}
	for _, d := range m.delegates {
		if strings.HasPrefix(key, d.prefix) {
			return false
		}
	}
	return true
}

var _ Store = (*Mirror)(nil)

// NewMirror lists st, then follows it until Close. It fails if the first
// listing does.
func NewMirror(ctx context.Context, st Store, log *slog.Logger) (*Mirror, error) {
	if log == nil {
		log = slog.Default()
	}
	m := &Mirror{st: st, log: log, items: map[string][]byte{}, done: make(chan struct{}), changed: make(chan struct{})}
	m.up, m.downed = context.WithCancel(context.Background())
	rev, err := m.load(ctx)
	if err != nil {
		close(m.done)
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(rctx, rev)
	return m, nil
}

// Unavailable is why the store cannot answer now (reads are served from
// the copy), or nil.
func (m *Mirror) Unavailable() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.down
}

// HealthChanged is closed when Unavailable's answer changes next.
func (m *Mirror) HealthChanged() <-chan struct{} {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.changed
}

// flipLocked tells HealthChanged's waiters. Called with mu held.
func (m *Mirror) flipLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// HealthChanged is closed when Health(st)'s answer changes; nil (never
// ready) for a store that is never unavailable.
func HealthChanged(st Store) <-chan struct{} {
	if h, ok := st.(interface{ HealthChanged() <-chan struct{} }); ok {
		return h.HealthChanged()
	}
	return nil
}

// Health is st's Unavailable when st is a Mirror (or anything else that
// says so), else nil: what a proxy shows as its store's state.
func Health(st Store) error {
	if h, ok := st.(interface{ Unavailable() error }); ok {
		return h.Unavailable()
	}
	return nil
}

// run lists and follows the store until ctx is done.
func (m *Mirror) run(ctx context.Context, rev int64) {
	defer close(m.done)
	wait := mirrorRetry.min
	for {
		err := m.watch(ctx, rev)
		for ctx.Err() == nil {
			if err != nil && !errors.Is(err, ErrCompacted) {
				m.setDown(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			if rev, err = m.load(ctx); err == nil {
				wait = mirrorRetry.min
				break
			}
			wait = min(2*wait, mirrorRetry.max)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// load replaces the copy with a listing of the store, and marks it
// available again.
func (m *Mirror) load(ctx context.Context) (int64, error) {
	all, rev, err := m.st.Snapshot(ctx, "")
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	items := make(map[string][]byte, len(all))
	for _, it := range all {
		if m.heldLocked(it.Key) {
			items[it.Key] = it.Value
		}
	}
	m.items, m.rev = items, rev
	if m.down != nil {
		m.log.Info("store reachable again", "revision", rev)
		m.down = nil
		m.up, m.downed = context.WithCancel(context.Background())
		m.flipLocked()
	}
	return rev, nil
}

// watch applies the store's changes after rev until the watch ends (its
// error) or a read finds the store unavailable (nil: list again).
func (m *Mirror) watch(ctx context.Context, rev int64) error {
	var probes sync.WaitGroup
	defer probes.Wait() // after cancel, below
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.mu.Lock()
	if m.down != nil { // a read failed since the listing
		m.mu.Unlock()
		return nil
	}
	m.follow = cancel
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.follow = nil
		m.mu.Unlock()
	}()
	probes.Go(func() { m.probe(wctx) })
	for b := range m.st.Watch(wctx, "", rev) {
		if b.Err != nil {
			return b.Err
		}
		m.mu.Lock()
		for _, ev := range b.Events {
			switch {
			case !m.heldLocked(ev.Key):
			case ev.Deleted:
				delete(m.items, ev.Key)
			default:
				m.items[ev.Key] = ev.Value
			}
			m.rev = ev.Revision
		}
		m.mu.Unlock()
	}
	return ctx.Err()
}

// probe reads probeKey every mirrorProbe until ctx is done; a store that
// does not answer is marked down (which ends the watch, and ctx).
func (m *Mirror) probe(ctx context.Context) {
	t := time.NewTicker(mirrorProbe)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := m.st.Get(ctx, probeKey); errors.Is(err, ErrUnavailable) {
			m.setDown(err)
		}
	}
}

// Revision is the revision of the last change the copy holds.
func (m *Mirror) Revision() int64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.rev
}

func skipped(key string) bool {
	for _, p := range mirrorSkip {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// setDown marks the store unavailable (if err says so) and ends the
// current watch, whose silence cannot be told from a quiet store: the
// follower lists again until the store answers.
func (m *Mirror) setDown(err error) {
	if !errors.Is(err, ErrUnavailable) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down == nil {
		m.since = time.Now()
		m.log.Warn("store unavailable: serving reads from the copy made before", "revision", m.rev, "err", err)
		m.downed()
		defer m.flipLocked()
	}
	m.down = err
	if m.follow != nil {
		m.follow()
	}
}

// fromCopy reports whether reads go to the copy now, and if the copy is
// too old to serve, the error to return instead.
func (m *Mirror) fromCopy() (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.down == nil {
		return false, nil
	}
	if time.Since(m.since) > MaxStale {
		return true, fmt.Errorf("%w (and its copy here is more than %s old)", m.down, MaxStale)
	}
	return true, nil
}

// Get implements Store.
func (m *Mirror) Get(ctx context.Context, key string) ([]byte, error) {
	if use, err := m.fromCopy(); use && (err != nil || skipped(key)) {
		return nil, m.orDown(err)
	} else if !use {
		rctx, done := m.whileUp(ctx)
		v, err := m.st.Get(rctx, key)
		err = m.cutShort(ctx, rctx, err)
		done()
		if !errors.Is(err, ErrUnavailable) {
			return v, err
		}
		m.setDown(err)
		if skipped(key) {
			return nil, err
		}
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	m.mu.RLock()
	v, ok := m.items[key]
	var src Source
	for _, d := range m.delegates {
		if strings.HasPrefix(key, d.prefix) {
			src = d.src
		}
	}
	m.mu.RUnlock()
	if src != nil {
		v, ok = src.Get(key) // not under mu: src has its own lock
	}
	if !ok {
		return nil, fmt.Errorf("get %q: %w", key, ErrNotFound)
	}
	return clone(v), nil
}

// whileUp is ctx, also ended when the store is found unavailable; done
// releases it.
func (m *Mirror) whileUp(ctx context.Context) (context.Context, func()) {
	m.mu.RLock()
	up := m.up
	m.mu.RUnlock()
	rctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(up, cancel)
	return rctx, func() { stop(); cancel() }
}

// cutShort is the error of a read made with rctx (from whileUp over
// ctx): the store's reason when the read was ended because the store
// went down meanwhile, else err as it is.
func (m *Mirror) cutShort(ctx, rctx context.Context, err error) error {
	if err != nil && ctx.Err() == nil && rctx.Err() != nil {
		if down := m.Unavailable(); down != nil {
			return down
		}
	}
	return err
}

// orDown is err, or the reason the store is down.
func (m *Mirror) orDown(err error) error {
	if err != nil {
		return err
	}
	return m.Unavailable()
}

// List implements Store.
func (m *Mirror) List(ctx context.Context, prefix string) ([]Item, error) {
	if use, err := m.fromCopy(); use && (err != nil || skipped(prefix)) {
		return nil, m.orDown(err)
	} else if !use {
		rctx, done := m.whileUp(ctx)
		items, err := m.st.List(rctx, prefix)
		err = m.cutShort(ctx, rctx, err)
		done()
		if !errors.Is(err, ErrUnavailable) {
			return items, err
		}
		m.setDown(err)
		if skipped(prefix) {
			return nil, err
		}
	}
	m.mu.RLock()
	var out []Item
	for k, v := range m.items {
		if strings.HasPrefix(k, prefix) {
			out = append(out, Item{Key: k, Value: clone(v)})
		}
	}
	delegates := slices.Clone(m.delegates)
	m.mu.RUnlock()
	for _, d := range delegates { // not under mu: each has its own lock
		switch {
		case strings.HasPrefix(d.prefix, prefix): // the list covers all of d
			out = append(out, d.src.List(d.prefix)...)
		case strings.HasPrefix(prefix, d.prefix): // the list is within d
			out = append(out, d.src.List(prefix)...)
		}
	}
	slices.SortFunc(out, func(a, b Item) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// written passes a write's error on, noting an unavailable store.
func (m *Mirror) written(err error) error {
	if errors.Is(err, ErrUnavailable) {
		m.setDown(err)
	}
	return err
}

// Put implements Store.
func (m *Mirror) Put(ctx context.Context, key string, value []byte) error {
	return m.written(m.st.Put(ctx, key, value))
}

// Create implements Store.
func (m *Mirror) Create(ctx context.Context, key string, value []byte) error {
	return m.written(m.st.Create(ctx, key, value))
}

// Delete implements Store.
func (m *Mirror) Delete(ctx context.Context, key string) error {
	return m.written(m.st.Delete(ctx, key))
}

// CompareAndSwap implements Store.
func (m *Mirror) CompareAndSwap(ctx context.Context, key string, old, new []byte) error {
	return m.written(m.st.CompareAndSwap(ctx, key, old, new))
}

// PutAll implements Store.
func (m *Mirror) PutAll(ctx context.Context, items []Item) error {
	return m.written(m.st.PutAll(ctx, items))
}

// Snapshot implements Store: the store's own, never the copy's.
func (m *Mirror) Snapshot(ctx context.Context, prefix string) ([]Item, int64, error) {
	items, rev, err := m.st.Snapshot(ctx, prefix)
	return items, rev, m.written(err)
}

// Watch implements Store: the store's own.
func (m *Mirror) Watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	return m.st.Watch(ctx, prefix, after)
}

// Close stops following and closes the store. It is idempotent.
func (m *Mirror) Close() error {
	if m.cancel != nil {
		m.cancel()
	}
	err := m.st.Close()
	<-m.done
	return err
}

// Describe names the store for status: "etcd at <peers>".
func (m *Mirror) Describe() string { return Describe(m.st) }

// Describe names st for status: "etcd at <peers>", or "embedded" for the
// stores in the proxy's own process.
func Describe(st Store) string {
	if d, ok := st.(interface{ Describe() string }); ok {
		return d.Describe()
	}
	return "embedded"
}
