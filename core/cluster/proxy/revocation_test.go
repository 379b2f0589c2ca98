package proxy_test

import (
	"encoding/pem"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/proxy"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Regression tests for "revocation is final" (issue 10; docs/security.md,
// "A certificate is bound to its record")
// through the proxy: a removed user's or leaf's certificate is refused
// even after a record of the same name was made again.

// TestRemovedUserCertificateRefusedByProxy: `users rm bob` and a new
// `bob` do not revive the first bob's certificate.
func TestRemovedUserCertificateRefusedByProxy(t *testing.T) {
	c := startCluster(t)
	old := c.AddUser(t, "bob", "dev")
	if _, err := api.NewClusterClient(testkit.Dial(t, old)).ListApps(ctx(t), &api.ListAppsRequest{}); err != nil {
		t.Fatal(err)
	}
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	if _, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	renewed := c.AddUser(t, "bob", "dev")

	_, err := api.NewClusterClient(testkit.Dial(t, old)).ListApps(ctx(t), &api.ListAppsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the removed bob's certificate after a new bob was added: ListApps = %v, want Unauthenticated", err)
	}
	if _, err := api.NewClusterClient(testkit.Dial(t, renewed)).ListApps(ctx(t), &api.ListAppsRequest{}); err != nil {
		t.Fatalf("the new bob's certificate: %v", err)
	}
	// The admin identity the daemon wrote is bound to the admin record
	// and keeps working.
	if _, err := admin.Status(ctx(t), &api.StatusRequest{}); err != nil {
		t.Fatalf("admin identity: %v", err)
	}
}

// TestRemovedLeafCertificateRefusedByProxy: a leaf whose trust was removed
// and that joined again with a new token does not get its old
// certificate back.
func TestRemovedLeafCertificateRefusedByProxy(t *testing.T) {
	c := startCluster(t)
	pin := c.Daemon.Auth().CA().Pin()
	join := func() *profile.Profile {
		t.Helper()
		token, _, err := c.Daemon.Auth().AddJoinToken(ctx(t), auth.TokenTypeTrustedCluster, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		conn, trustedCA, err := mtls.DialPinned(c.Addr, func(got string) error {
			if got != pin {
				t.Errorf("CA pin %s, want %s", got, pin)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		key, err := mtls.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		res, err := api.NewTrustClient(conn).Join(ctx(t), &api.JoinRequest{Token: token, PublicKey: key.PubDER, HostName: "leaf.test"})
		if err != nil {
			t.Fatal(err)
		}
		return &profile.Profile{
			ProxyAddr: c.Addr, ClusterName: res.GetClusterName(), User: auth.LeafUserPrefix + "leaf.test",
			CertPEM: res.GetCertificatePem(), KeyPEM: key.PEM,
			CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trustedCA().Raw}),
		}
	}
	// control opens the leaf's control stream and ends it at once: the
	// proxy checks the certificate first, and refuses a removed leaf with
	// PermissionDenied (which makes a leaf stop using its identity).
	control := func(p *profile.Profile) error {
		t.Helper()
		st, err := api.NewTrustClient(testkit.Dial(t, p)).Control(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CloseSend(); err != nil {
			t.Fatal(err)
		}
		_, err = st.Recv()
		return err
	}

	old := join()
	if err := control(old); status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.Unauthenticated {
		t.Fatalf("the leaf's certificate: %v", err)
	}
	if err := c.Daemon.Auth().RemoveLeaf(ctx(t), "leaf.test"); err != nil {
		t.Fatal(err)
	}
	renewed := join()
	if err := control(old); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the removed leaf's certificate after a re-join: %v, want PermissionDenied", err)
	}
	if err := control(renewed); status.Code(err) == codes.PermissionDenied || status.Code(err) == codes.Unauthenticated {
		t.Fatalf("the re-joined leaf's certificate: %v", err)
	}
}

// TestRecreatedUserDoesNotKeepOldSession: a tunnel opened with the first
// bob's certificate is cut at the next recheck once bob was removed and
// created again elsewhere (another proxy, the store), where this proxy
// did not see the removal itself.
func TestRecreatedUserDoesNotKeepOldSession(t *testing.T) {
	proxy.SetRecheckInterval(t, 20*time.Millisecond)
	c := startCluster(t)
	old := c.AddUser(t, "bob", "dev")
	conn, err := tunnel.NewClient(testkit.Dial(t, old), "root.test").Dial(ctx(t), "echo", 5432, "100.64.0.1:40000")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	// Not through this proxy's admin service, which would cut bob's
	// sessions at once.
	if err := c.Daemon.Auth().RemoveUser(ctx(t), "bob"); err != nil {
		t.Fatal(err)
	}
	c.AddUser(t, "bob", "dev")

	cut := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		cut <- err
	}()
	select {
	case <-cut:
	case <-ctx(t).Done():
		t.Fatal("the removed bob's session is still open after a new bob was created")
	}
}
