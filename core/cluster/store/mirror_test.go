package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// flaky is a Memory that can be made unavailable, as an etcd that lost
// its quorum: every call fails with an *UnavailableError and every watch
// ends with one.
type flaky struct {
	*Memory
	mu   sync.Mutex
	down chan struct{} // closed while down; guarded by mu
	// hang, when set, receives each Get that then waits for its ctx (as
	// an etcd read waits for a leader). Guarded by mu.
	hang chan struct{}
}

func newFlaky() *flaky { return &flaky{Memory: NewMemory()} }

func (f *flaky) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case down && f.down == nil:
		f.down = make(chan struct{})
		close(f.down)
	case !down:
		f.down = nil
	}
}

func (f *flaky) check(op, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return &UnavailableError{Backend: "etcd at test", Op: op, Key: key, Reason: "no leader"}
	}
	return nil
}

func (f *flaky) Get(ctx context.Context, key string) ([]byte, error) {
	if err := f.check("get", key); err != nil {
		return nil, err
	}
	f.mu.Lock()
	hang := f.hang
	f.mu.Unlock()
	if hang != nil && key != probeKey {
		hang <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.Memory.Get(ctx, key)
}

func (f *flaky) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := f.check("list", prefix); err != nil {
		return nil, err
	}
	return f.Memory.List(ctx, prefix)
}

func (f *flaky) Snapshot(ctx context.Context, prefix string) ([]Item, int64, error) {
	if err := f.check("list", prefix); err != nil {
		return nil, 0, err
	}
	return f.Memory.Snapshot(ctx, prefix)
}

func (f *flaky) Create(ctx context.Context, key string, v []byte) error {
	if err := f.check("create", key); err != nil {
		return err
	}
	return f.Memory.Create(ctx, key, v)
}

func (f *flaky) Put(ctx context.Context, key string, v []byte) error {
	if err := f.check("put", key); err != nil {
		return err
	}
	return f.Memory.Put(ctx, key, v)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	if err := f.check("delete", key); err != nil {
		return err
	}
	return f.Memory.Delete(ctx, key)
}

// Watch ends with the store's error when it goes down.
func (f *flaky) Watch(ctx context.Context, prefix string, after int64) <-chan Batch {
	out := make(chan Batch)
	if err := f.check("watch", prefix); err != nil {
		go func() { defer close(out); out <- Batch{Err: err} }()
		return out
	}
	wctx, cancel := context.WithCancel(ctx)
	in := f.Memory.Watch(wctx, prefix, after)
	go func() {
		defer close(out)
		defer cancel()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case b, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- b:
				case <-ctx.Done():
					return
				}
			case <-tick.C:
				if err := f.check("watch", prefix); err != nil {
					select {
					case out <- Batch{Err: err}:
					case <-ctx.Done():
					}
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// eventually polls cond (no timed assertion: it gives up only after a
// minute, far beyond any wait it stands for).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestMirrorServesReadsWhileStoreDown: with the store unavailable, reads
// are answered from the copy as it was when the store went away (a key
// removed before stays removed), writes fail with the store's error, and
// Unavailable says why; when the store answers again the copy is listed
// anew and reads go to the store.
func TestMirrorServesReadsWhileStoreDown(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	for _, k := range []string{"/auth/users/alice", "/auth/users/bob", "/resources/role/dev", "/audit/1"} {
		if err := f.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewMirror(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	changed := m.HealthChanged()
	if err := m.Delete(ctx, "/auth/users/bob"); err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, "/resources/app/web", []byte("web")); err != nil {
		t.Fatal(err)
	}
	_, rev, _ := f.Snapshot(ctx, "")
	eventually(t, "the copy follows the writes", func() bool { return m.Revision() >= rev })

	f.setDown(true)
	<-changed // the watch ended with the store's error
	if err := m.Unavailable(); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Unavailable = %v; want ErrUnavailable", err)
	}
	if v, err := m.Get(ctx, "/auth/users/alice"); err != nil || string(v) != "/auth/users/alice" {
		t.Fatalf("Get alice while down = %q, %v; want from the copy", v, err)
	}
	if _, err := m.Get(ctx, "/auth/users/bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get bob (removed before) while down = %v; want ErrNotFound", err)
	}
	items, err := m.List(ctx, "/resources/")
	if err != nil || len(items) != 2 || items[0].Key != "/resources/app/web" || items[1].Key != "/resources/role/dev" {
		t.Fatalf("List /resources/ while down = %v, %v; want app/web, role/dev", items, err)
	}
	if _, err := m.List(ctx, "/audit/"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("List /audit/ while down = %v; want ErrUnavailable (not copied)", err)
	}
	err = m.Create(ctx, "/resources/app/new", []byte("new"))
	if !errors.Is(err, ErrUnavailable) || !strings.HasPrefix(Unavailable(err).Error(), "store unavailable: etcd at test: create") {
		t.Fatalf("Create while down = %v; want store unavailable", err)
	}
	if Health(m) == nil || Health(f.Memory) != nil {
		t.Fatalf("Health(mirror) = %v, Health(memory) = %v", Health(m), Health(f.Memory))
	}

	changed = m.HealthChanged()
	f.setDown(false)
	<-changed
	if err := m.Unavailable(); err != nil {
		t.Fatalf("Unavailable after the store came back = %v", err)
	}
	if err := m.Create(ctx, "/resources/app/new", []byte("new")); err != nil {
		t.Fatal(err)
	}
	if v, err := m.Get(ctx, "/resources/app/new"); err != nil || string(v) != "new" {
		t.Fatalf("Get after recovery = %q, %v", v, err)
	}
}

// TestMirrorReadMarksDown: a read that finds the store unavailable marks
// it so (its watch may not know yet: a cut connection is retried
// silently) and is answered from the copy.
func TestMirrorReadMarksDown(t *testing.T) {
	ctx := context.Background()
	f, m := mirrorOfAlice(t)
	f.mu.Lock()
	f.down = make(chan struct{}) // down for calls; the watch notices only at its next tick
	f.mu.Unlock()
	if v, err := m.Get(ctx, "/auth/users/alice"); err != nil || string(v) != "a" {
		t.Fatalf("Get = %q, %v; want from the copy", v, err)
	}
	if m.Unavailable() == nil {
		t.Fatal("a failed read did not mark the store unavailable")
	}
}

// mapSource is a Source over a map.
type mapSource map[string]string

func (s mapSource) Get(key string) ([]byte, bool) {
	v, ok := s[key]
	return []byte(v), ok
}

func (s mapSource) List(prefix string) []Item {
	var out []Item
	for k, v := range s {
		if strings.HasPrefix(k, prefix) {
			out = append(out, Item{Key: k, Value: []byte(v)})
		}
	}
	return out
}

// TestMirrorDelegate: keys under a delegated prefix are dropped from the
// copy and, while the store is down, answered by the Source, merged in
// key order with the copy's own.
func TestMirrorDelegate(t *testing.T) {
	ctx := context.Background()
	f := newFlaky()
	for _, k := range []string{"/resources/app/web", "/resources/role/dev"} {
		if err := f.Put(ctx, k, []byte("stored")); err != nil {
			t.Fatal(err)
		}
	}
	m, err := NewMirror(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m.Delegate("/resources/app/", mapSource{"/resources/app/web": "cached", "/resources/app/db": "cached"})
	m.mu.RLock()
	_, held := m.items["/resources/app/web"]
	m.mu.RUnlock()
	if held {
		t.Fatal("the copy still holds a delegated key")
	}
	changed := m.HealthChanged()
	f.setDown(true)
	<-changed
	if v, err := m.Get(ctx, "/resources/app/web"); err != nil || string(v) != "cached" {
		t.Fatalf("Get delegated = %q, %v; want the source's", v, err)
	}
	if _, err := m.Get(ctx, "/resources/app/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get delegated missing = %v; want ErrNotFound", err)
	}
	var keys []string
	items, err := m.List(ctx, "/resources/")
	for _, it := range items {
		keys = append(keys, it.Key)
	}
	if err != nil || strings.Join(keys, " ") != "/resources/app/db /resources/app/web /resources/role/dev" {
		t.Fatalf("List /resources/ = %v, %v; want both sources in key order", keys, err)
	}
	if items, err := m.List(ctx, "/resources/app/w"); err != nil || len(items) != 1 || items[0].Key != "/resources/app/web" {
		t.Fatalf("List within the delegated prefix = %v, %v", items, err)
	}
}

// TestMirrorReadInFlightWhenStoreGoesDown: a read waiting on the store
// when it is found unavailable ends at once and is answered from the
// copy, instead of waiting out its bound.
func TestMirrorReadInFlightWhenStoreGoesDown(t *testing.T) {
	ctx := context.Background()
	f, m := mirrorOfAlice(t)
	hang := make(chan struct{})
	f.mu.Lock()
	f.hang = hang
	f.mu.Unlock()
	type result struct {
		v   []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		v, err := m.Get(ctx, "/auth/users/alice") // ctx has no deadline: only the store going down ends it
		got <- result{v, err}
	}()
	<-hang
	f.setDown(true) // the watch ends with the store's error
	r := <-got
	if r.err != nil || string(r.v) != "a" {
		t.Fatalf("Get in flight when the store went down = %q, %v; want from the copy", r.v, r.err)
	}
}

// mirrorOfAlice is a Mirror of a flaky store that holds one user, alice
// ("a"), closed when t ends.
func mirrorOfAlice(t *testing.T) (*flaky, *Mirror) {
	t.Helper()
	ctx := context.Background()
	f := newFlaky()
	if err := f.Put(ctx, "/auth/users/alice", []byte("a")); err != nil {
		t.Fatal(err)
	}
	m, err := NewMirror(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return f, m
}
