package proxy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func startCluster(t *testing.T) *clustertest.Cluster {
	return clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
		clustertest.App{Name: "down", URI: "tcp://" + testkit.ClosedPort(t), PublicAddr: "down.company.test"},
	)
}

func TestTunnelRoundTripWithHalfClose(t *testing.T) {
	c := startCluster(t)
	alice := c.AddUser(t, "alice", "dev")
	tc := tunnel.NewClient(testkit.Dial(t, alice), "root.test")

	conn, err := tc.Dial(ctx(t), "echo", 5432, "100.64.0.1:40000")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("echo = %q, %v", buf, err)
	}
	// Half-close: the app sees EOF, answers "bye" and closes; we read it
	// and then EOF.
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(conn)
	if err != nil || string(rest) != "bye" {
		t.Fatalf("after CloseWrite read %q, %v; want \"bye\", nil", rest, err)
	}
}

func TestTunnelDialErrors(t *testing.T) {
	c := startCluster(t)
	tc := tunnel.NewClient(testkit.Dial(t, c.AddUser(t, "alice", "dev")), "root.test")
	for _, tc2 := range []struct {
		app  string
		want error
	}{
		{"down", tunnel.ErrRefused},
		{"no-such-app", tunnel.ErrNotFound},
	} {
		t.Run(tc2.app, func(t *testing.T) {
			start := time.Now()
			_, err := tc.Dial(ctx(t), tc2.app, 80, "")
			if !errors.Is(err, tc2.want) {
				t.Fatalf("Dial(%s) = %v, want %v", tc2.app, err, tc2.want)
			}
			t.Logf("%s refused after %v: %v", tc2.app, time.Since(start), err)
		})
	}
}

func TestCatalogCalls(t *testing.T) {
	c := startCluster(t)
	cl := api.NewClusterClient(testkit.Dial(t, c.AddUser(t, "alice", "dev")))
	apps, err := cl.ListApps(ctx(t), &api.ListAppsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if apps.GetClusterName() != "root.test" || apps.GetProxyPublicAddr() != "proxy.root.test:3080" || len(apps.GetApps()) != 2 {
		t.Fatalf("ListApps = %v", apps)
	}
	cfg, err := cl.GetVNetConfig(ctx(t), &api.GetVNetConfigRequest{})
	if err != nil || cfg.GetIpv4CidrRange() != "100.64.0.0/10" || len(cfg.GetCustomDnsZones()) != 0 {
		t.Fatalf("GetVNetConfig = %v, %v; want the default", cfg, err)
	}
}

func TestAdminResources(t *testing.T) {
	c := startCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	user := api.NewClusterClient(testkit.Dial(t, c.AddUser(t, "alice", "dev")))
	good := "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones:\n    - suffix: Company.Test\n"

	if _, err := user.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(good)}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("non-admin create: %v, want PermissionDenied", err)
	}
	for _, bad := range []struct{ name, spec, field string }{
		{"prefix /33", `ipv4_cidr_range: "10.0.0.0/33"`, "spec.ipv4_cidr_range"},
		{"ipv6 range", `ipv4_cidr_range: "fd00::/64"`, "spec.ipv4_cidr_range"},
		{"empty suffix", `custom_dns_zones: [{suffix: ""}]`, "spec.custom_dns_zones"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			y := "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  " + bad.spec + "\n"
			_, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(y)})
			msg := status.Convert(err).Message()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(msg, bad.field) || strings.Contains(msg, "\n") {
				t.Fatalf("create %s: %v; want one-line InvalidArgument naming %s", bad.name, err, bad.field)
			}
		})
	}
	cfg, err := user.GetVNetConfig(ctx(t), &api.GetVNetConfigRequest{})
	if err != nil || cfg.GetIpv4CidrRange() != "100.64.0.0/10" || len(cfg.GetCustomDnsZones()) != 0 {
		t.Fatalf("after bad creates: %v, %v; want the default untouched", cfg, err)
	}

	res, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(good)})
	if err != nil || !res.GetCreated() || res.GetKind() != "vnet_config" {
		t.Fatalf("create = %v, %v", res, err)
	}
	if _, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(good)}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second create without force: %v, want already exists", err)
	}
	if res, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(good), Force: true}); err != nil || res.GetCreated() {
		t.Fatalf("create -f = %v, %v; want updated", res, err)
	}
	cfg, err = user.GetVNetConfig(ctx(t), &api.GetVNetConfigRequest{})
	if err != nil || len(cfg.GetCustomDnsZones()) != 1 || cfg.GetCustomDnsZones()[0] != "company.test" {
		t.Fatalf("GetVNetConfig = %v, %v; want the zone, lower-cased", cfg, err)
	}
}

// TestRejectedCertificates: a client without a usable certificate gets a
// message that says what is wrong.
func TestRejectedCertificates(t *testing.T) {
	c := startCluster(t)
	alice := c.AddUser(t, "alice", "dev")

	foreignCA, err := auth.LoadOrCreateCA(ctx(t), store.NewMemory(), "evil.test")
	if err != nil {
		t.Fatal(err)
	}
	key, err := mtls.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	withCert := func(ca *auth.CA, ttl time.Duration) *profile.Profile {
		cert, err := ca.IssueUser(key.Public, auth.Identity{User: "alice", Roles: []string{"dev"}}, ttl)
		if err != nil {
			t.Fatal(err)
		}
		p := *alice
		p.CertPEM, p.KeyPEM = cert, key.PEM
		return &p
	}
	noCert := *alice
	noCert.CertPEM = nil

	for _, tc := range []struct {
		name string
		p    *profile.Profile
		want string
	}{
		{"foreign CA", withCert(foreignCA, time.Hour), "not signed by this cluster's CA"},
		{"expired", withCert(c.Daemon.Auth().CA(), -30*time.Second), "expired"},
		{"no certificate", &noCert, "no client certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := api.NewClusterClient(testkit.Dial(t, tc.p)).ListApps(ctx(t), &api.ListAppsRequest{})
			if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ListApps = %v; want Unauthenticated saying %q", err, tc.want)
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	c := startCluster(t)
	token, _, err := c.Daemon.Auth().AddUser(ctx(t), "bob", nil)
	if err != nil {
		t.Fatal(err)
	}
	trustAll := func(string) error { return nil }
	if _, err := profile.Login(ctx(t), c.Addr, "bob", token, func(string) error { return errors.New("pin mismatch") }); err == nil || !strings.Contains(err.Error(), "pin mismatch") {
		t.Fatalf("login with a refused pin: %v", err)
	}
	if _, err := profile.Login(ctx(t), c.Addr, "mallory", token, trustAll); status.Code(errors.Unwrap(err)) != codes.Unauthenticated {
		t.Fatalf("login with another user's token: %v, want Unauthenticated", err)
	}
	if _, err := profile.Login(ctx(t), c.Addr, "bob", token, trustAll); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := profile.Login(ctx(t), c.Addr, "bob", token, trustAll); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Fatalf("second use of a one-time token: %v, want invalid", err)
	}
}

// TestPlainTLSHandshakeNeedsNoCert: the proxy's TLS accepts clients without
// certificates (login needs that) but still speaks only TLS 1.3.
func TestPlainTLSHandshakeNeedsNoCert(t *testing.T) {
	c := startCluster(t)
	conn, err := tls.Dial("tcp", c.Addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Fatal("TLS 1.2 handshake succeeded, want refusal")
	}
	gc, err := grpc.NewClient("passthrough:///"+c.Addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})))
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	ping, err := api.NewAuthClient(gc).Ping(ctx(t), &api.PingRequest{})
	if err != nil || ping.GetClusterName() != "root.test" {
		t.Fatalf("Ping = %v, %v", ping, err)
	}
}

// TestTunnelMultiPort: the proxy dials a multi-port app on the client's
// port when it is listed, and refuses other ports itself.
func TestTunnelMultiPort(t *testing.T) {
	_, portStr, _ := net.SplitHostPort(clustertest.EchoServer(t))
	port, _ := strconv.Atoi(portStr)
	c := clustertest.Start(t, "root.test", "proxy.root.test", clustertest.App{
		Name: "multi", URI: "tcp://127.0.0.1", PublicAddr: "multi.company.test",
		TCPPorts: []resource.PortRange{{Port: port}},
	})
	tc := tunnel.NewClient(testkit.Dial(t, c.AddUser(t, "alice", "dev")), "root.test")
	conn, err := tc.Dial(ctx(t), "multi", uint16(port), "")
	if err != nil {
		t.Fatalf("dial on the listed port: %v", err)
	}
	conn.Close()
	if _, err := tc.Dial(ctx(t), "multi", uint16(port)+1, ""); !errors.Is(err, tunnel.ErrRefused) || !strings.Contains(err.Error(), "tcp_ports") {
		t.Fatalf("dial on another port: %v, want refused naming tcp_ports", err)
	}
}
