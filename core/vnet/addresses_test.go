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
	if len(changes) != 4 {
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
