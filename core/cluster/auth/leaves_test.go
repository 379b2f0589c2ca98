package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// TestLeafGrantsFollowTheRecord: a leaf's first join copies its token's
// grants; the admin's later grants survive a re-join with another token;
// after its trust is removed the next join starts from that token's.
func TestLeafGrantsFollowTheRecord(t *testing.T) {
	s, ctx := newTestService(t)
	grants := func(name string) resource.LeafGrants {
		t.Helper()
		leaves, err := s.ListLeaves(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leaves {
			if l.Name == name {
				return l.Grants
			}
		}
		t.Fatalf("leaf %s not listed", name)
		return resource.LeafGrants{}
	}
	join := func(token string) time.Time {
		t.Helper()
		_, pub := newPub(t)
		if _, err := s.JoinLeaf(ctx, token, "leaf.test", pub); err != nil {
			t.Fatal(err)
		}
		leaves, _ := s.ListLeaves(ctx)
		return leaves[0].Joined
	}

	granting, _, err := s.AddLeafJoinToken(ctx, time.Hour, resource.LeafGrants{Zones: []string{"LeafCorp.test"}, IPv4CIDRRange: "100.70.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := s.AddJoinToken(ctx, TokenTypeTrustedCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.AddLeafJoinToken(ctx, time.Hour, resource.LeafGrants{Zones: []string{"test"}}); err == nil || !strings.Contains(err.Error(), "zones[0]") {
		t.Fatalf("a token granting a single-label zone: %v", err)
	}

	joined := join(granting)
	want := resource.LeafGrants{Zones: []string{"leafcorp.test"}, IPv4CIDRRange: "100.70.0.0/16"}
	if got := grants("leaf.test"); !reflect.DeepEqual(got, want) {
		t.Fatalf("grants after the first join = %+v, want the token's %+v", got, want)
	}

	edited := resource.LeafGrants{Zones: []string{"leafcorp.test", "more.test"}, IPv4CIDRRange: "100.71.0.0/16"}
	if err := s.SetLeafGrants(ctx, "leaf.test", edited); err != nil {
		t.Fatal(err)
	}
	if again := join(plain); !again.Equal(joined) {
		t.Errorf("a re-join moved the leaf's join time from %v to %v (its place among the leaves)", joined, again)
	}
	if got := grants("leaf.test"); !reflect.DeepEqual(got, edited) {
		t.Fatalf("grants after a re-join with a plain token = %+v, want the admin's %+v", got, edited)
	}

	if err := s.RemoveLeaf(ctx, "leaf.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLeafGrants(ctx, "leaf.test", edited); !errors.Is(err, ErrNoSuchResource) {
		t.Fatalf("SetLeafGrants of a removed leaf = %v, want ErrNoSuchResource", err)
	}
	join(plain)
	if got := grants("leaf.test"); !reflect.DeepEqual(got, resource.LeafGrants{}) {
		t.Fatalf("grants after the trust was removed and a plain join = %+v, want none", got)
	}
}
