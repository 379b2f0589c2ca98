package appcache

import (
	"slices"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// TestSubsetFollowsChanges: a subset holds exactly the apps its predicate
// keeps, those there when it was made and through every add, change and
// removal after.
func TestSubsetFollowsChanges(t *testing.T) {
	h := newHarness(t)
	h.app("before", "prod")
	h.app("dev1", "dev")
	h.caughtUp()
	prod := h.cache.Track(func(a *resource.App) bool { return a.Metadata.Labels["env"] == "prod" })
	check := func(want ...string) {
		t.Helper()
		var got []string
		for _, a := range h.cache.SubsetApps(prod) {
			got = append(got, a.Name())
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("subset = %v, want %v", got, want)
		}
	}
	check("before")
	h.app("p2", "prod")
	h.app("dev2", "dev")
	h.caughtUp()
	check("before", "p2")
	h.app("dev1", "prod") // changed into the subset
	h.app("p2", "dev")    // and out of it
	h.caughtUp()
	check("before", "dev1")
	h.rm("before")
	h.caughtUp()
	check("dev1")
}
