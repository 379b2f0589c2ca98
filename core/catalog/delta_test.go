package catalog

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vnetproject/vnet/core/api"
)

// TestDeltaViewPatches: the view patches its sorted list of apps per
// update, one app at a time or in one merge (more than fewChanges), and
// an offer already handed out (a snapshot VNet serves from) never sees a
// later change.
func TestDeltaViewPatches(t *testing.T) {
	names := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s%02d", prefix, i))
		}
		return out
	}
	v := &deltaView{}
	full := page(1, true, true, "m", "b")
	full2 := page(1, true, false, "k", "b") // b again: the last page's wins
	full2.Removed = []string{"m"}           // a removal inside a full set
	steps := []struct {
		name string
		u    *api.CatalogUpdate
		want []string
	}{
		{"full set, first page", full, nil},
		{"full set, last page", full2, []string{"b", "k"}},
		{"one added", page(2, false, false, "a"), []string{"a", "b", "k"}},
		{"one changed", page(3, false, false, "k"), []string{"a", "b", "k"}},
		{"many added", page(4, false, false, names("z", 10)...), append([]string{"a", "b", "k"}, names("z", 10)...)},
		{"many changed, one added", page(5, false, false, append(names("z", 9), "c")...), append([]string{"a", "b", "c", "k"}, names("z", 10)...)},
		{"one removed, one unknown", &api.CatalogUpdate{Revision: 6, Removed: []string{"c", "nope"}}, append([]string{"a", "b", "k"}, names("z", 10)...)},
		{"many removed", &api.CatalogUpdate{Revision: 7, Removed: append(names("z", 10), "a")}, []string{"b", "k"}},
	}
	var offers [][]Cluster
	var wants [][]string
	for _, s := range steps {
		changed, err := v.apply(s.u)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want == nil {
			if changed {
				t.Fatalf("%s: offered before the full set ended", s.name)
			}
			continue
		}
		cl, err := v.offer()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		wantApps(t, cl, s.want...)
		offers, wants = append(offers, cl), append(wants, s.want)
	}
	for i, cl := range offers {
		wantApps(t, cl, wants[i]...)
	}
	if got := v.root.apps[0]; got.Name != "b" || got.PublicAddr != "b.proxy.test" || !slices.IsSortedFunc(v.root.apps, func(a, b App) int { return byName(a, b.Name) }) {
		t.Fatalf("view %+v", v.root.apps)
	}
}

// TestSnapshotSharesNamedApps: a snapshot of a delta view's offer uses
// the offer's apps as they are when no name is contested, and writes why
// into a copy of its own when one is, leaving the offer as it was.
func TestSnapshotSharesNamedApps(t *testing.T) {
	v := &deltaView{}
	if _, err := v.apply(page(1, true, false, "a", "b")); err != nil {
		t.Fatal(err)
	}
	cl, err := v.offer()
	if err != nil {
		t.Fatal(err)
	}
	cl = Identify("proxy.test:3080", cl)
	s := NewSnapshot(cl)
	if &s.Clusters[0].Apps[0] != &cl[0].Apps[0] {
		t.Fatal("nothing contested, yet the snapshot copied the apps")
	}
	if m, ok := s.Lookup("a.proxy.test"); !ok || m.App.Name != "a" {
		t.Fatalf("a.proxy.test: %+v, %v", m, ok)
	}
	// An earlier login's cluster holds proxy.test: these names are its.
	earlier := Cluster{ID: "e:1", Via: "e:1", Name: "e", ProxyHost: "e.test", Zones: []string{"proxy.test"}, IPv4Range: cl[0].IPv4Range}
	s = NewSnapshot(append([]Cluster{earlier}, cl...))
	if &s.Clusters[1].Apps[0] == &cl[0].Apps[0] || s.Clusters[1].Apps[0].Unnamed == "" {
		t.Fatalf("contested names: apps %+v shared with the offer", s.Clusters[1].Apps)
	}
	if cl[0].Apps[0].Unnamed != "" {
		t.Fatalf("the offer was written: %+v", cl[0].Apps[0])
	}
}
