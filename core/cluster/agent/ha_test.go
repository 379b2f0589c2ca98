package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// TestDialFailsOverToAnotherAgent: an agent whose dial of the app fails
// makes the proxy try another agent serving the same app (the same uri:
// each agent reaches a target of its own).
func TestDialFailsOverToAnotherAgent(t *testing.T) {
	c := startCluster(t)
	svc := app("svc", "svc.internal:80", "svc.company.test")
	startAgentWith(t, c, c.Addr, agentOptions{dial: dialTo(testkit.ClosedPort(t))}, svc)
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "svc listed", func() bool { return u.apps(t)["svc"] != "" })
	if _, err := u.read(t, "svc"); !errors.Is(err, tunnel.ErrRefused) {
		t.Fatalf("dial with only the broken agent: %v, want ErrRefused", err)
	}
	startAgentWith(t, c, c.Addr, agentOptions{dial: dialTo(greeter(t, "up"))}, svc)
	testkit.Eventually(t, "the second agent", func() bool { got, err := u.read(t, "svc"); return err == nil && got == "up" })
	// The broken agent is still registered and alive: each dial that
	// picks it first must go on to the other.
	for i := 0; i < 20; i++ {
		if got, err := u.read(t, "svc"); err != nil || got != "up" {
			t.Fatalf("dial %d = %q, %v; want the working agent's app", i, got, err)
		}
	}
}

// TestTwoProxiesOneEtcd: two cluster processes on one etcd share the CA,
// users, config and apps, and a dial through one proxy reaches an app whose
// agent is connected to the other. The etcd is set up as the docs advise:
// TLS with client certificates, and a user allowed only the cluster's
// prefix.
func TestTwoProxiesOneEtcd(t *testing.T) {
	etcd := etcdtest.StartTLS(t)
	etcd.EnableAuth(t, "vnet", "ha password", "/ha/")
	passwordFile := filepath.Join(t.TempDir(), "etcd-password")
	if err := os.WriteFile(passwordFile, []byte("ha password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(apps ...clustertest.App) *clustertest.Cluster {
		cfg := clustertest.Config(t, "root.test", "proxy.root.test", apps...)
		cfg.Storage = config.Storage{
			Type: config.StorageEtcd, Peers: []string{etcd.URL}, Prefix: "/ha/",
			TLSCAFile: etcd.CA.File, TLSCertFile: etcd.CertFile, TLSKeyFile: etcd.KeyFile,
			Username: "vnet", PasswordFile: passwordFile,
		}
		cfg.Proxy.AgentHeartbeat = heartbeat
		return clustertest.StartConfig(t, cfg)
	}
	a := start(app("near", greeter(t, "near"), "near.company.test"))
	b := start()
	if pa, pb := a.Daemon.Auth().CA().Pin(), b.Daemon.Auth().CA().Pin(); pa != pb {
		t.Fatalf("CA pins differ: %s and %s; want one CA", pa, pb)
	}

	// A user added through A logs in and works through B.
	viaB := newUser(t, a, b.Addr)
	ctx := ctxFor(t)
	zone := "kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n  custom_dns_zones:\n    - suffix: company.test\n"
	if _, err := api.NewClusterClient(testkit.Dial(t, a.Admin(t))).CreateResource(ctx, &api.CreateResourceRequest{Yaml: []byte(zone)}); err != nil {
		t.Fatal(err)
	}
	cfg, err := viaB.cluster.GetVNetConfig(ctx, &api.GetVNetConfigRequest{})
	if err != nil || len(cfg.GetCustomDnsZones()) != 1 || cfg.GetCustomDnsZones()[0] != "company.test" {
		t.Fatalf("config through B = %v, %v; want A's zone", cfg, err)
	}
	if got := viaB.apps(t)["near"]; got != "near.company.test" {
		t.Fatalf("A's app through B: %q", got)
	}

	// An agent connected to B serves "far"; a user of A reaches it.
	startAgent(t, b, b.Addr, app("far", greeter(t, "far away"), "far.company.test"))
	viaA := newUser(t, a, a.Addr)
	testkit.Eventually(t, "far listed through A", func() bool { return viaA.apps(t)["far"] == "far.company.test" })
	for i := 0; i < 5; i++ {
		if got, err := viaA.read(t, "far"); err != nil || got != "far away" {
			t.Fatalf("dial through A of an app behind B = %q, %v", got, err)
		}
	}
	// And the other way round: an agent on A, a user on B.
	startAgent(t, a, a.Addr, app("back", greeter(t, "back"), "back.company.test"))
	testkit.Eventually(t, "back listed through B", func() bool { return viaB.apps(t)["back"] != "" })
	if got, err := viaB.read(t, "back"); err != nil || got != "back" {
		t.Fatalf("dial through B of an app behind A = %q, %v", got, err)
	}
}
