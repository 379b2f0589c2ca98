package trust

import (
	"context"
	"errors"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// A leaf whose trust the root removed does not join again with the same
// token, only with a new one.
func TestRefusedTokenIsNotReused(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	svc := &Service{cfg: Config{ClusterName: "leaf.test", Store: st}}
	tc := func(token string) *conn {
		return &conn{svc: svc, tc: &resource.TrustedCluster{
			Header: resource.Header{Metadata: resource.Metadata{Name: "root.test"}},
			// A closed port: a join attempt fails without reaching anything.
			Spec: resource.TrustedClusterSpec{Token: token, WebProxyAddr: "127.0.0.1:1", CAPin: "sha256:00"},
		}}
	}
	if err := st.Put(ctx, identityPrefix+"root.test", []byte(`{"token_hash":"`+tokenHash("old")+`"}`)); err != nil {
		t.Fatal(err)
	}
	if err := refused(ctx, st, "root.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, identityPrefix+"root.test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("identity kept after the refusal: %v", err)
	}
	tests := []struct {
		name, token string
		refused     bool
	}{
		{"same token", "old", true},
		{"new token", "new", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tc(tt.token).loadOrJoin(ctx)
			if err == nil {
				t.Fatal("loadOrJoin succeeded against a closed port")
			}
			if got := errors.Is(err, errTrustRemoved); got != tt.refused {
				t.Errorf("loadOrJoin: %v; refused = %v, want %v", err, got, tt.refused)
			}
		})
	}
	if err := forget(ctx, st, "root.test"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc("old").loadOrJoin(ctx); errors.Is(err, errTrustRemoved) {
		t.Errorf("after the trusted_cluster was removed, the old token is still refused: %v", err)
	}
}
