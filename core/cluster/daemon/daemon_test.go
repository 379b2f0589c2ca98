package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
)

// TestStaticAppAddressTaken: a cluster.yaml app whose address a stored app
// of another name holds is refused (logged and audited); the daemon starts
// with the rest, and the holder keeps its address.
func TestStaticAppAddressTaken(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := clustertest.Config(t, "root.test", "proxy.root.test", clustertest.App{Name: "a", URI: "tcp://127.0.0.1:1", PublicAddr: "db.company.test"})
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(ctx, cfg, clustertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	// "a" left cluster.yaml but is still stored; "b" wants its address.
	cfg.Apps.Apps = []clustertest.App{
		{Name: "b", URI: "tcp://127.0.0.1:2", PublicAddr: "DB.company.test"},
		{Name: "c", URI: "tcp://127.0.0.1:3"},
	}
	if err := cfg.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	d, err = daemon.Start(ctx, cfg, clustertest.Logger())
	if err != nil {
		t.Fatalf("the daemon did not start: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	defer func() { cancel(); <-done; d.Close() }()
	p, err := profile.Load(daemon.AdminProfileDir(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	admin := api.NewClusterClient(testkit.Dial(t, p))
	res, err := admin.GetResources(ctx, &api.GetResourcesRequest{Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	all := ""
	for _, y := range res.GetYaml() {
		all += string(y)
	}
	if !strings.Contains(all, "name: a\n") || !strings.Contains(all, "name: c\n") || strings.Contains(all, "name: b\n") {
		t.Fatalf("apps =\n%s\nwant a and c, not b", all)
	}
	clustertest.WaitForEvents(t, admin, &api.SearchAuditRequest{App: "b"}, func(evs []audit.Event) bool {
		return len(evs) == 1 && evs[0].Type == audit.AppClaimRefused && evs[0].User == "cluster.yaml" &&
			evs[0].Error == `app "b": spec.public_addr "db.company.test" is already the address of app "a"`
	})
}

// TestAuditDroppedCountFromLastRun: a count of dropped audit events that
// the last run kept in data_dir (its store refused writes until it
// stopped) is recorded as audit.dropped when the daemon starts.
func TestAuditDroppedCountFromLastRun(t *testing.T) {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test")
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, "audit-dropped"), []byte("7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := clustertest.StartConfig(t, cfg)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	clustertest.WaitForEvents(t, admin, &api.SearchAuditRequest{}, func(evs []audit.Event) bool {
		return slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.Type == audit.Dropped && ev.Count == 7 })
	})
}
