// Package clustertest starts a real cluster daemon on loopback for tests:
// embedded database in a temp dir, real CA, real TLS, and users logged in
// through the real login flow.
package clustertest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/profile"
)

// Cluster is a running test cluster.
type Cluster struct {
	Daemon *daemon.Daemon
	Config *config.File
	Addr   string // where the proxy listens, host:port on loopback
}

// App is a static app of the test cluster.
type App = config.StaticApp

// Start runs a cluster called name with apps until the test ends.
// publicHost is the proxy's public host name (the domain VNet captures).
func Start(t testing.TB, name, publicHost string, apps ...App) *Cluster {
	t.Helper()
	return StartConfig(t, Config(t, name, publicHost, apps...))
}

// Config is the cluster.yaml Start uses, for a test to change before
// StartConfig (storage, heartbeat, ...).
func Config(t testing.TB, name, publicHost string, apps ...App) *config.File {
	return &config.File{
		Version:     "v1",
		ClusterName: name,
		DataDir:     filepath.Join(t.TempDir(), "data"),
		Proxy:       config.ProxyService{ListenAddr: "127.0.0.1:0", PublicAddr: publicHost + ":3080"},
		Apps:        config.AppService{Enabled: true, Apps: apps},
	}
}

// StartConfig runs a cluster daemon from cfg until the test ends.
func StartConfig(t testing.TB, cfg *config.File) *Cluster {
	t.Helper()
	name := cfg.ClusterName
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.Start(ctx, cfg, Logger())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("cluster %s: %v", name, err)
		}
		d.Close()
	})
	return &Cluster{Daemon: d, Config: cfg, Addr: d.Addr().String()}
}

// AddUser creates a user with roles and logs them in through the proxy,
// pinning the cluster's CA, and returns their profile (not saved).
func (c *Cluster) AddUser(t testing.TB, user string, roles ...string) *profile.Profile {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	token, _, err := c.Daemon.Auth().AddUser(ctx, user, roles)
	if err != nil {
		t.Fatal(err)
	}
	pin := c.Daemon.Auth().CA().Pin()
	p, err := profile.Login(ctx, c.Addr, user, token, func(got string) error {
		if got != pin {
			return fmt.Errorf("CA pin %s, want %s", got, pin)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Admin is the admin identity the daemon wrote into its data directory.
func (c *Cluster) Admin(t testing.TB) *profile.Profile {
	t.Helper()
	p, err := profile.Load(daemon.AdminProfileDir(c.Config.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// CreateResource writes a resource (YAML) through the proxy as admin,
// overwriting one of the same kind and name, as `vnet ctl create -f` does.
func CreateResource(t testing.TB, admin *profile.Profile, yaml string) {
	t.Helper()
	conn, err := admin.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := api.NewClusterClient(conn).CreateResource(ctx, &api.CreateResourceRequest{Yaml: []byte(yaml), Force: true}); err != nil {
		t.Fatal(err)
	}
}
