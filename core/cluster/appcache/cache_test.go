package appcache

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/testkit"
)

type harness struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Memory
	res   *state.State
	cache *Cache
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, ctx: ctx, st: store.NewMemory()}
	h.res = state.New(h.st)
	h.role("dev", resource.LabelSelector{"env": {"dev"}})
	h.role("ops", resource.LabelSelector{"env": {"prod"}})
	h.cache = New(h.st, "root", "proxy.test:3080", nil)
	done := make(chan struct{})
	go func() { defer close(done); h.cache.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; h.st.Close() })
	if err := h.cache.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) role(name string, allow resource.LabelSelector) {
	h.t.Helper()
	if _, err := h.res.Create(h.ctx, resource.NewRole(name, allow, nil), true); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) app(name, env string) {
	h.t.Helper()
	if _, err := h.res.Create(h.ctx, resource.NewApp(name, "tcp://127.0.0.1:1", "", map[string]string{"env": env}), true); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) rm(name string) {
	h.t.Helper()
	if err := h.res.Delete(h.ctx, resource.KindApp, name); err != nil {
		h.t.Fatal(err)
	}
}

// caughtUp waits until the cache applied every write so far.
func (h *harness) caughtUp() {
	h.t.Helper()
	_, rev, err := h.st.Snapshot(h.ctx, "")
	if err != nil {
		h.t.Fatal(err)
	}
	testkit.Eventually(h.t, "the cache catches up", func() bool { return h.cache.Revision() >= rev })
}

// summary is updates as the apps they add and the names they remove.
func summary(ups []*api.CatalogUpdate) (added, removed []string) {
	for _, u := range ups {
		for _, a := range u.GetApps().GetApps() {
			added = append(added, a.GetName())
		}
		removed = append(removed, u.GetRemoved()...)
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

func want(t *testing.T, ups []*api.CatalogUpdate, added, removed []string) {
	t.Helper()
	a, r := summary(ups)
	if !slices.Equal(a, added) || !slices.Equal(r, removed) {
		t.Fatalf("updates add %v remove %v; want add %v remove %v", a, r, added, removed)
	}
}

func TestFullSetIsPaged(t *testing.T) {
	h := newHarness(t)
	for i := range 2*PageApps + 5 {
		h.app(fmt.Sprintf("app%04d", i), "dev")
	}
	h.app("prod-db", "prod")
	h.caughtUp()
	f := h.cache.Subscribe("alice")
	defer f.Close()
	ups := f.Start([]string{"dev"}, 0)
	if len(ups) != 3 {
		t.Fatalf("%d updates, want 3 pages", len(ups))
	}
	for i, u := range ups {
		if len(u.GetApps().GetApps()) > PageApps {
			t.Errorf("page %d holds %d apps, more than %d", i, len(u.GetApps().GetApps()), PageApps)
		}
		if u.GetResync() != (i == 0) || u.GetMore() != (i < 2) || (u.GetConfig() != nil) != (i == 0) {
			t.Errorf("page %d: resync %v more %v config %v", i, u.GetResync(), u.GetMore(), u.GetConfig())
		}
		if u.GetRevision() != h.cache.Revision() || u.GetApps().GetClusterName() != "root" {
			t.Errorf("page %d: revision %d cluster %q", i, u.GetRevision(), u.GetApps().GetClusterName())
		}
	}
	if added, _ := summary(ups); len(added) != 2*PageApps+5 || slices.Contains(added, "prod-db") {
		t.Fatalf("the full set holds %d apps (prod-db: %v); want the dev apps only", len(added), slices.Contains(added, "prod-db"))
	}
}

func TestDeltasFilteredByRoles(t *testing.T) {
	h := newHarness(t)
	h.app("web", "dev")
	h.app("db", "prod")
	h.caughtUp()
	alice := h.cache.Subscribe("alice") // dev
	defer alice.Close()
	want(t, alice.Start([]string{"dev"}, 0), []string{"web"}, nil)

	// Added: a dev app reaches alice; a prod app does not (not even its
	// name).
	h.app("api", "dev")
	h.app("db2", "prod")
	h.caughtUp()
	<-alice.Changed()
	want(t, alice.Next([]string{"dev"}), []string{"api"}, nil)

	// Changed: web moves to prod, so alice loses it; db moves to dev.
	h.app("web", "prod")
	h.app("db", "dev")
	h.caughtUp()
	want(t, alice.Next([]string{"dev"}), []string{"db"}, []string{"web"})

	// Removed: only what alice saw is named.
	h.rm("api")
	h.rm("db2")
	h.caughtUp()
	want(t, alice.Next([]string{"dev"}), nil, []string{"api"})

	// Nothing of alice's changed: nothing to send.
	h.app("prod-only", "prod")
	h.caughtUp()
	if ups := alice.Next([]string{"dev"}); ups != nil {
		t.Fatalf("an app alice cannot see was sent to her: %v", ups)
	}
}

func TestRoleChangeRefiltersItsUsers(t *testing.T) {
	h := newHarness(t)
	h.app("web", "dev")
	h.app("db", "prod")
	h.caughtUp()
	alice, bob := h.cache.Subscribe("alice"), h.cache.Subscribe("bob")
	defer alice.Close()
	defer bob.Close()
	want(t, alice.Start([]string{"dev"}, 0), []string{"web"}, nil)
	want(t, bob.Start([]string{"ops"}, 0), []string{"db"}, nil)

	// The dev role now grants prod instead: alice's view is filtered
	// again; bob's role did not change, he gets nothing.
	h.role("dev", resource.LabelSelector{"env": {"prod"}})
	h.caughtUp()
	want(t, alice.Next([]string{"dev"}), []string{"db"}, []string{"web"})
	if ups := bob.Next([]string{"ops"}); ups != nil {
		t.Fatalf("bob's roles did not change, yet he got %v", ups)
	}

	// A user given other roles (the caller read them again).
	want(t, bob.Next([]string{"ops", "dev"}), nil, nil)
	want(t, bob.Next([]string{}), nil, []string{"db"})
}

func TestOtherKeysIgnored(t *testing.T) {
	h := newHarness(t)
	f := h.cache.Subscribe("alice")
	defer f.Close()
	f.Start([]string{"dev"}, 0)
	for _, k := range []string{"/audit/1", "/auth/tokens/x", "/agent_apps/web/a1", "/resources/trusted_cluster/root"} {
		if err := h.st.Put(h.ctx, k, []byte("not a catalog resource")); err != nil {
			t.Fatal(err)
		}
	}
	h.app("web", "dev")
	h.caughtUp()
	want(t, f.Next([]string{"dev"}), []string{"web"}, nil)
}

func TestUserChangeIsSignalled(t *testing.T) {
	h := newHarness(t)
	f := h.cache.Subscribe("alice")
	defer f.Close()
	f.Start(nil, 0)
	if err := h.st.Put(h.ctx, usersPrefix+"bob", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := h.st.Put(h.ctx, usersPrefix+"alice", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	h.caughtUp()
	if !f.UserChanged() {
		t.Fatal("alice's record changed: the feed does not say so")
	}
}

func TestResume(t *testing.T) {
	h := newHarness(t)
	h.app("web", "dev")
	h.caughtUp()
	f := h.cache.Subscribe("alice")
	ups := f.Start([]string{"dev"}, 0)
	rev := ups[len(ups)-1].GetRevision()
	f.Close()

	// While alice is away: one app added, one removed.
	h.app("api", "dev")
	h.rm("web")
	h.caughtUp()
	f = h.cache.Subscribe("alice")
	ups = f.Start([]string{"dev"}, rev)
	if ups[0].GetResync() {
		t.Fatal("resume from a known revision sent a full set")
	}
	want(t, ups, []string{"api"}, []string{"web"})
	rev = ups[len(ups)-1].GetRevision()
	f.Close()

	// Nothing changed: one update with the revision only.
	f = h.cache.Subscribe("alice")
	ups = f.Start([]string{"dev"}, rev)
	if len(ups) != 1 || ups[0].GetResync() || ups[0].GetRevision() != rev {
		t.Fatalf("resume with nothing new: %v", ups)
	}
	f.Close()

	// A role changed meanwhile, or a revision the cache does not know:
	// a full set.
	h.role("dev", resource.LabelSelector{"env": {"dev", "prod"}})
	h.caughtUp()
	for _, from := range []int64{rev, h.cache.Revision() + 100} {
		f = h.cache.Subscribe("alice")
		if ups := f.Start([]string{"dev"}, from); !ups[0].GetResync() {
			t.Fatalf("resume from %d after a role change: not a full set", from)
		}
		f.Close()
	}
}

func TestConfigChange(t *testing.T) {
	h := newHarness(t)
	f := h.cache.Subscribe("alice")
	defer f.Close()
	f.Start(nil, 0)
	cfg := resource.DefaultVNetConfig()
	cfg.Spec.IPv4CIDRRange = "100.70.0.0/16"
	if _, err := h.res.Create(h.ctx, cfg, true); err != nil {
		t.Fatal(err)
	}
	h.caughtUp()
	ups := f.Next(nil)
	if len(ups) != 1 || ups[0].GetConfig().GetIpv4CidrRange() != "100.70.0.0/16" {
		t.Fatalf("after a vnet_config change: %v", ups)
	}
}

func TestWholeForOlderClients(t *testing.T) {
	h := newHarness(t)
	h.app("web", "dev")
	h.app("db", "prod")
	h.caughtUp()
	f := h.cache.Subscribe("alice")
	defer f.Close()
	u := f.Whole([]string{"dev"})
	if u.GetRevision() != 0 || u.GetResync() || len(u.GetApps().GetApps()) != 1 || u.GetConfig() == nil {
		t.Fatalf("whole catalog for an older client: %v", u)
	}
}

// compactingStore cuts its first watch with ErrCompacted when told to,
// delivering nothing before: the changes meanwhile reach the cache only
// through the listing it makes again.
type compactingStore struct {
	*store.Memory
	cut   chan struct{}
	calls int
}

func (s *compactingStore) Watch(ctx context.Context, prefix string, after int64) <-chan store.Batch {
	s.calls++
	if s.calls > 1 {
		return s.Memory.Watch(ctx, prefix, after)
	}
	out := make(chan store.Batch)
	go func() {
		defer close(out)
		select {
		case <-s.cut:
			out <- store.Batch{Err: store.ErrCompacted}
		case <-ctx.Done():
		}
	}()
	return out
}

func TestResyncAppliesDifferences(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &compactingStore{Memory: store.NewMemory(), cut: make(chan struct{})}
	res := state.New(st)
	res.Create(ctx, resource.NewRole("dev", resource.LabelSelector{"env": {"dev"}}, nil), true)
	res.Create(ctx, resource.NewApp("web", "tcp://127.0.0.1:1", "", map[string]string{"env": "dev"}), true)
	res.Create(ctx, resource.NewApp("keep", "tcp://127.0.0.1:1", "", map[string]string{"env": "dev"}), true)
	c := New(st, "root", "proxy.test:3080", nil)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	f := c.Subscribe("alice")
	defer f.Close()
	want(t, f.Start([]string{"dev"}, 0), []string{"keep", "web"}, nil)

	res.Delete(ctx, resource.KindApp, "web")
	res.Create(ctx, resource.NewApp("api", "tcp://127.0.0.1:1", "", map[string]string{"env": "dev"}), true)
	close(st.cut)
	<-f.Changed()
	want(t, f.Next([]string{"dev"}), []string{"api"}, []string{"web"})
}
