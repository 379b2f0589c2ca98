package catalog

import (
	"testing"

	"github.com/vnetproject/vnet/core/testkit"
)

// names are the IDs of the snapshot's clusters, in order.
func ids(s *Snapshot) []string {
	var out []string
	for _, c := range s.Clusters {
		out = append(out, c.ID)
	}
	return out
}

func TestSetLoginsFollowsLoginsWhileRunning(t *testing.T) {
	testkit.CheckGoroutines(t)
	a := newFakeSource()
	a.updates <- Cluster{Name: "a", ProxyHost: "proxy.a.test", Apps: []App{{Name: "app", PublicAddr: "app.proxy.a.test"}}}
	cat := runCatalog(t, a) // login "s0"
	if _, err := ready(t, cat); err != nil {
		t.Fatal(err)
	}

	// A login while running: followed at once, after the first in order.
	b := newFakeSource()
	b.updates <- Cluster{Name: "b", ProxyHost: "proxy.b.test"}
	if err := cat.SetLogins([]Login{{ID: "s0", Source: a}, {ID: "b:3080", Source: b}}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the new login's cluster", func() bool { return len(cat.Current().Clusters) == 2 })
	if got := ids(cat.Current()); got[0] != "s0" || got[1] != "b:3080" {
		t.Fatalf("clusters %v, want login order s0, b:3080", got)
	}

	// A re-login (same ID, new source): the last offer stays until the
	// new source answers, and the old stream ends.
	a2 := newFakeSource()
	if err := cat.SetLogins([]Login{{ID: "s0", Source: a2}, {ID: "b:3080", Source: b}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := cat.Current().Lookup("app.proxy.a.test"); !ok {
		t.Fatal("after a re-login the cluster's names went before its new source answered")
	}
	a.updates <- Cluster{Name: "a-stale"} // the old source: must be ignored
	a2.updates <- Cluster{Name: "a", ProxyHost: "proxy.a.test", Apps: []App{{Name: "app2", PublicAddr: "app2.proxy.a.test"}}}
	testkit.Eventually(t, "the re-login's offer", func() bool {
		_, ok := cat.Current().Lookup("app2.proxy.a.test")
		return ok
	})
	if c := cat.Current().Clusters[0]; c.Name != "a" {
		t.Fatalf("the replaced source's update reached the snapshot: %+v", c)
	}

	// A logout: the cluster and its names go at once.
	if err := cat.SetLogins([]Login{{ID: "b:3080", Source: b}}); err != nil {
		t.Fatal(err)
	}
	if got := ids(cat.Current()); len(got) != 1 || got[0] != "b:3080" {
		t.Fatalf("after the logout of s0: clusters %v", got)
	}
	if _, ok := cat.Current().Lookup("app2.proxy.a.test"); ok {
		t.Fatal("a logged-out cluster's name still resolves")
	}
	if st := cat.Status(); len(st) != 1 || st[0].ID != "b:3080" {
		t.Fatalf("status after logout: %+v", st)
	}

	// Every login gone: an empty catalog, no error.
	if err := cat.SetLogins(nil); err != nil {
		t.Fatal(err)
	}
	if n := len(cat.Current().Clusters); n != 0 {
		t.Fatalf("no logins: %d clusters", n)
	}
	if err := cat.SetLogins([]Login{{ID: "x", Source: b}, {ID: "x", Source: a}}); err == nil {
		t.Fatal("SetLogins with one ID twice: want an error")
	}
}

func TestSetLoginsBeforeReady(t *testing.T) {
	// A login given to New that goes before it answered does not keep
	// Ready waiting.
	silent, other := newFakeSource(), newFakeSource()
	other.updates <- Cluster{Name: "other"}
	cat := runCatalog(t, silent, other)
	if err := cat.SetLogins([]Login{{ID: "s1", Source: other}}); err != nil {
		t.Fatal(err)
	}
	snap, err := ready(t, cat)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(snap); len(got) != 1 || got[0] != "s1" {
		t.Fatalf("Ready snapshot %v", got)
	}
}
