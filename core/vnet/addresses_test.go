package vnet

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/vnetproject/vnet/core/catalog"
)

// snapshotOf is one cluster "c" with range rng and apps at the addresses
// given (each inside its proxy host's domain c.test), and its ranges.
func snapshotOf(rng string, names ...string) (*catalog.Snapshot, map[string]netip.Prefix) {
	c := catalog.Cluster{ID: "c", Via: "c", Name: "c", ProxyHost: "c.test", IPv4Range: netip.MustParsePrefix(rng)}
	for _, n := range names {
		c.Apps = append(c.Apps, catalog.App{Name: n, PublicAddr: n + ".c.test"})
	}
	snap := catalog.NewSnapshot([]catalog.Cluster{c})
	ranges, _ := snap.AcceptRanges(nil)
	return snap, ranges
}

// TestAddressNotReusedWhileConnected: in a /29 (four usable addresses) an
// app that leaves while a connection to it lives keeps its address out of
// reach of newcomers until that connection ends.
func TestAddressNotReusedWhileConnected(t *testing.T) {
	b := newAddressBook()
	if _, errs := b.sync(snapshotOf("10.9.0.0/29", "old")); len(errs) != 0 {
		t.Fatal(errs)
	}
	old, _ := b.addrOf("c", "old.c.test")
	ref, release, ok := b.acquire(old)
	if !ok || ref.App != "old" {
		t.Fatalf("acquire(%s) = %v, %v", old, ref, ok)
	}

	newcomers := []string{"n1", "n2", "n3", "n4"}
	_, errs := b.sync(snapshotOf("10.9.0.0/29", newcomers...))
	if len(errs) != 1 {
		t.Fatalf("sync with the old address held: %d errors %v, want exactly one app left out", len(errs), errs)
	}
	for _, n := range newcomers {
		if a, ok := b.addrOf("c", n+".c.test"); ok && a == old {
			t.Fatalf("%s got %s while a connection to its old holder lives", n, a)
		}
	}
	if _, _, ok := b.acquire(old); ok {
		t.Fatal("new connections still reach the app that left")
	}

	release()
	release() // idempotent
	if _, errs := b.sync(snapshotOf("10.9.0.0/29", newcomers...)); len(errs) != 0 {
		t.Fatalf("after the connection ended: %v, want every app served", errs)
	}
}

func TestAddressFollowsRange(t *testing.T) {
	b := newAddressBook()
	b.sync(snapshotOf("100.64.0.0/10", "a"))
	first, _ := b.addrOf("c", "a.c.test")
	b.sync(snapshotOf("100.64.0.0/10", "a", "b"))
	if again, _ := b.addrOf("c", "a.c.test"); again != first {
		t.Fatalf("a.test moved from %s to %s when another app came", first, again)
	}
	changes, _ := b.sync(snapshotOf("100.100.0.0/16", "a", "b"))
	moved, _ := b.addrOf("c", "a.c.test")
	if !netip.MustParsePrefix("100.100.0.0/16").Contains(moved) {
		t.Fatalf("a.test = %s after the range moved", moved)
	}
	if len(changes.List) != 4 || changes.Added != 2 || changes.Gone != 2 {
		t.Fatalf("changes = %+v, want two removed and two added", changes)
	}
}

// TestNestedRangesOfOneProfile: a leaf's range inside its root's (one
// profile, two allocators) never yields an address held twice, and
// clusters that report the same name but are different profiles keep
// apart (keyed by ID).
func TestNestedRangesOfOneProfile(t *testing.T) {
	root := catalog.Cluster{ID: "p:1", Via: "p:1", Name: "same", ProxyHost: "r.test", IPv4Range: netip.MustParsePrefix("10.9.0.0/25")}
	leaf := catalog.Cluster{ID: "p:1/same", Via: "p:1", Name: "same", ProxyHost: "l.test", IPv4Range: netip.MustParsePrefix("10.9.0.0/27")}
	for i := range 60 {
		root.Apps = append(root.Apps, catalog.App{Name: fmt.Sprintf("r%d", i)})
	}
	for i := range 8 {
		leaf.Apps = append(leaf.Apps, catalog.App{Name: fmt.Sprintf("l%d", i)})
	}
	snap := catalog.NewSnapshot([]catalog.Cluster{root, leaf})
	ranges, refused := snap.AcceptRanges(nil)
	if len(refused) != 0 {
		t.Fatal(refused)
	}
	for range 20 { // map order varies: try many
		b := newAddressBook()
		if _, errs := b.sync(snap, ranges); len(errs) != 0 {
			t.Fatal(errs)
		}
		seen := map[netip.Addr]string{}
		for _, c := range snap.Clusters {
			for _, a := range c.Apps {
				addr, ok := b.addrOf(c.ID, a.Addr)
				if !ok || !c.IPv4Range.Contains(addr) {
					t.Fatalf("%s of %s: %s, %v", a.Name, c.ID, addr, ok)
				}
				if other, dup := seen[addr]; dup {
					t.Fatalf("%s held by %s and %s", addr, other, a.Name)
				}
				seen[addr] = a.Name
				if ref, release, _ := b.acquire(addr); ref.ClusterID != c.ID || ref.App != a.Name {
					t.Fatalf("acquire(%s) = %+v, want %s of %s", addr, ref, a.Name, c.ID)
				} else {
					release()
				}
			}
		}
	}
}

// TestAddressBackWhileConnected: an app that leaves while a connection to
// it lives and comes back holds its address again, and keeps it when that
// connection ends.
func TestAddressBackWhileConnected(t *testing.T) {
	b := newAddressBook()
	b.sync(snapshotOf("10.9.0.0/29", "app"))
	first, _ := b.addrOf("c", "app.c.test")
	_, release, ok := b.acquire(first)
	if !ok {
		t.Fatal("no app behind its own address")
	}
	if changes, _ := b.sync(snapshotOf("10.9.0.0/29")); len(changes.List) != 1 || changes.List[0].Added {
		t.Fatalf("changes = %+v, want the app gone", changes)
	}
	if changes, _ := b.sync(snapshotOf("10.9.0.0/29", "app")); len(changes.List) != 1 || !changes.List[0].Added || changes.List[0].Addr != first {
		t.Fatalf("changes = %+v, want the app back at %s", changes, first)
	}
	release()
	if ref, release, ok := b.acquire(first); !ok || ref.App != "app" {
		t.Fatalf("after the old connection ended: %+v, %v; want the app still at %s", ref, ok, first)
	} else {
		release()
	}
}

// TestAddressReusedAfterRemoval: in a full /29 an app removed frees its
// address for an app added in the same sync.
func TestAddressReusedAfterRemoval(t *testing.T) {
	b := newAddressBook()
	if _, errs := b.sync(snapshotOf("10.9.0.0/29", "a", "b", "c", "d")); len(errs) != 0 {
		t.Fatal(errs)
	}
	gone, _ := b.addrOf("c", "d.c.test")
	changes, errs := b.sync(snapshotOf("10.9.0.0/29", "a", "b", "c", "e"))
	if len(errs) != 0 || len(changes.List) != 2 {
		t.Fatalf("changes %+v, errors %v: want d gone and e added", changes, errs)
	}
	if got, _ := b.addrOf("c", "e.c.test"); got != gone {
		t.Fatalf("e got %s, want the one address free, %s", got, gone)
	}
	if ref, release, ok := b.acquire(gone); !ok || ref.App != "e" {
		t.Fatalf("acquire(%s) = %+v, %v; want e", gone, ref, ok)
	} else {
		release()
	}
}

// TestNameMovesBetweenClusters: a name that one cluster offered and then
// another does (each in its own profile and range) leaves the first's
// address and gets one of the second's; its connections go to the second.
func TestNameMovesBetweenClusters(t *testing.T) {
	cluster := func(id, rng string, apps ...catalog.App) catalog.Cluster {
		return catalog.Cluster{ID: id, Via: id, Name: id, ProxyHost: id + ".test", Zones: []string{"z.test"}, IPv4Range: netip.MustParsePrefix(rng), Apps: apps}
	}
	app := catalog.App{Name: "x", PublicAddr: "x.z.test"}
	sync := func(b *addressBook, clusters ...catalog.Cluster) []AppChange {
		snap := catalog.NewSnapshot(clusters)
		ranges, refused := snap.AcceptRanges(nil)
		if len(refused) != 0 {
			t.Fatal(refused)
		}
		changes, errs := b.sync(snap, ranges)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		return changes.List
	}
	b := newAddressBook()
	sync(b, cluster("a", "10.1.0.0/16", app))
	before, _ := b.addrOf("a", "x.z.test")
	changes := sync(b, cluster("b", "10.2.0.0/16", app))
	if len(changes) != 2 {
		t.Fatalf("changes = %+v, want x gone from a and added to b", changes)
	}
	if _, ok := b.addrOf("a", "x.z.test"); ok {
		t.Fatal("x kept its address in a")
	}
	after, ok := b.addrOf("b", "x.z.test")
	if !ok || !netip.MustParsePrefix("10.2.0.0/16").Contains(after) {
		t.Fatalf("x in b: %s, %v", after, ok)
	}
	if _, _, ok := b.acquire(before); ok {
		t.Fatalf("%s (x in a) still reaches an app", before)
	}
	if ref, release, ok := b.acquire(after); !ok || ref.ClusterID != "b" || ref.App != "x" {
		t.Fatalf("acquire(%s) = %+v, %v", after, ref, ok)
	} else {
		release()
	}
}

// TestManyChangesCounted: a change of more apps than MaxListedChanges
// (a catalog loading) is counted, not listed; a few are listed.
func TestManyChangesCounted(t *testing.T) {
	var names []string
	for i := range MaxListedChanges + 1 {
		names = append(names, fmt.Sprintf("app%d", i))
	}
	b := newAddressBook()
	changes, errs := b.sync(snapshotOf("10.9.0.0/16", names...))
	if len(errs) != 0 || changes.Added != len(names) || changes.Gone != 0 || changes.List != nil {
		t.Fatalf("changes %d added, %d gone, %d listed (errors %v): want %d added, none listed", changes.Added, changes.Gone, len(changes.List), errs, len(names))
	}
	changes, _ = b.sync(snapshotOf("10.9.0.0/16", names[1:]...))
	if changes.Gone != 1 || changes.Added != 0 || len(changes.List) != 1 || changes.List[0].App != "app0" {
		t.Fatalf("changes %+v: want app0 gone, listed", changes)
	}
}
