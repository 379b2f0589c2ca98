package appcache

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// TestCheckAddrFree: the index by address follows apps created, changed
// (another address) and removed.
func TestCheckAddrFree(t *testing.T) {
	h := newHarness(t)
	put := func(name, publicAddr string) {
		t.Helper()
		if _, err := h.res.Create(h.ctx, resource.NewApp(name, "tcp://127.0.0.1:1", publicAddr, nil), true); err != nil {
			t.Fatal(err)
		}
		if err := h.cache.CatchUp(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name, publicAddr, holder string) {
		t.Helper()
		err := h.cache.CheckAddrFree(resource.NewApp(name, "tcp://127.0.0.1:1", publicAddr, nil))
		var inUse *resource.AddrInUseError
		switch {
		case holder == "" && err != nil:
			t.Fatalf("%s at %q: %v, want free", name, publicAddr, err)
		case holder != "" && (!errors.As(err, &inUse) || inUse.Holder != holder):
			t.Fatalf("%s at %q: %v, want held by %q", name, publicAddr, err, holder)
		}
	}
	put("a", "db.company.test")
	put("web", "")
	check("b", "DB.Company.Test.", "a")
	check("a", "db.company.test", "") // its own
	check("b", "web.proxy.test", "web")
	check("web", "", "")
	put("a", "db2.company.test") // moved
	check("b", "db.company.test", "")
	check("b", "db2.company.test", "a")
	h.rm("a")
	if err := h.cache.CatchUp(h.ctx); err != nil {
		t.Fatal(err)
	}
	check("b", "db2.company.test", "")
	if h.cache.App("a") != nil || h.cache.App("web") == nil {
		t.Fatalf("App(a) = %v, App(web) = %v: want nil and web", h.cache.App("a"), h.cache.App("web"))
	}
	if got := len(h.cache.byAddr); got != 1 {
		t.Fatalf("the index holds %d addresses, want 1 (web's)", got)
	}
}

// heldStore holds the changes it reports to watchers until open is
// closed: a cache that lags behind the store.
type heldStore struct {
	*store.Memory
	open     chan struct{}
	snapshot func() // if not nil, called after each Snapshot
}

func (s *heldStore) Snapshot(ctx context.Context, prefix string) ([]store.Item, int64, error) {
	items, rev, err := s.Memory.Snapshot(ctx, prefix)
	if s.snapshot != nil {
		s.snapshot()
	}
	return items, rev, err
}

func (s *heldStore) Watch(ctx context.Context, prefix string, after int64) <-chan store.Batch {
	in := s.Memory.Watch(ctx, prefix, after)
	out := make(chan store.Batch)
	go func() {
		defer close(out)
		for b := range in {
			select {
			case <-s.open:
			case <-ctx.Done():
				return
			}
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// TestCatchUpWaitsForTheWrite: CatchUp returns only once the cache has
// applied what the store committed before it was called, so that a claim
// checked after it sees the claim written before it.
func TestCatchUpWaitsForTheWrite(t *testing.T) {
	st := &heldStore{Memory: store.NewMemory(), open: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c := New(st, "root", "proxy.test:3080", nil)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := state.New(st).Create(ctx, resource.NewApp("a", "tcp://127.0.0.1:1", "db.company.test", nil), false); err != nil {
		t.Fatal(err)
	}
	// Given up just after it read the store's revision: the cache has
	// not applied the write.
	late, stop := context.WithCancel(ctx)
	st.snapshot = stop
	if err := c.CatchUp(late); err == nil || !strings.Contains(err.Error(), "did not catch up") {
		t.Fatalf("CatchUp with the change held = %v, want it not caught up", err)
	}
	st.snapshot = nil
	close(st.open)
	if err := c.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckAddrFree(resource.NewApp("b", "tcp://127.0.0.1:1", "db.company.test", nil)); err == nil {
		t.Fatal("db.company.test free after CatchUp, want it a's")
	}
}
