package daemon_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/testkit"
)

// TestAdminIdentityIsShortLivedAndRotates: the admin identity the daemon
// writes lives 12 hours at most (it used to be 30 days); rotating it ends
// every earlier copy (a leaked one) at once, and the new one works.
func TestAdminIdentityIsShortLivedAndRotates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := clustertest.Start(t, "root.test", "proxy.root.test")
	leaked := c.Admin(t)
	exp, err := leaked.Expires()
	if err != nil {
		t.Fatal(err)
	}
	if left := time.Until(exp); left > 12*time.Hour || daemon.AdminCertTTL > 12*time.Hour {
		t.Fatalf("admin identity valid for %v more (AdminCertTTL %v), want at most 12h", left, daemon.AdminCertTTL)
	}
	call := func(p api.ClusterClient) error {
		_, err := p.Status(ctx, &api.StatusRequest{})
		return err
	}
	before := api.NewClusterClient(testkit.Dial(t, leaked))
	if err := call(before); err != nil {
		t.Fatalf("admin call before the rotation: %v", err)
	}

	if err := c.Daemon.RotateAdminIdentity(ctx); err != nil {
		t.Fatal(err)
	}
	// A new connection with the old certificate: refused.
	if err := call(api.NewClusterClient(testkit.Dial(t, leaked))); status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.PermissionDenied {
		t.Errorf("admin call with the rotated-away identity: %v, want refused", err)
	}
	if err := call(api.NewClusterClient(testkit.Dial(t, c.Admin(t)))); err != nil {
		t.Errorf("admin call with the new identity: %v", err)
	}
}
