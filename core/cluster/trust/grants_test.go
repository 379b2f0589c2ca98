package trust_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/testkit"
)

// leafCatalog is the catalog of leaf in u, or nil.
func leafCatalog(u *api.CatalogUpdate, leaf string) *api.LeafCatalog {
	for _, l := range u.GetLeaves() {
		if l.GetApps().GetClusterName() == leaf {
			return l
		}
	}
	return nil
}

// leafShows holds when leaf's catalog has exactly these zones, range and
// apps.
func leafShows(leaf, rng string, zones []string, apps ...string) func(*api.CatalogUpdate) bool {
	return func(u *api.CatalogUpdate) bool {
		l := leafCatalog(u, leaf)
		got, _ := leafApps(u, leaf)
		return l != nil && slices.Equal(got, apps) && l.GetConfig().GetIpv4CidrRange() == rng &&
			slices.Equal(l.GetConfig().GetCustomDnsZones(), zones)
	}
}

// refusedAll reports whether every want is (part of) a line of refused.
func refusedAll(refused []string, want ...string) bool {
	for _, w := range want {
		if !slices.ContainsFunc(refused, func(line string) bool { return strings.Contains(line, w) }) {
			return false
		}
	}
	return true
}

func refusals(evs []audit.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == audit.LeafClaimRefused {
			out = append(out, ev.Error)
		}
	}
	return out
}

// TestLeafClaimsOnlyWhatItsRootGrants runs two leaves against a real root:
// a leaf claiming the root's zone, an outside (ungranted) zone and the
// addresses of root apps; grants through the join token and through the
// remote_cluster; a second leaf claiming the first one's zone and app
// address; refusals in the users' catalog, in ctl get remote_clusters, in
// the audit log (once each) and on the laptop's catalog.
func TestLeafClaimsOnlyWhatItsRootGrants(t *testing.T) {
	rootCfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "root-app", URI: "tcp://" + clustertest.GreeterServer(t, "root"), PublicAddr: "root-app.company.test"},
		clustertest.App{Name: "root-db", URI: "tcp://" + clustertest.GreeterServer(t, "root-db"), PublicAddr: "db.leafcorp.test"})
	root := clustertest.StartConfig(t, rootCfg)
	rootAdmin := api.NewClusterClient(testkit.Dial(t, root.Admin(t)))
	create(t, rootAdmin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec:\n  ipv4_cidr_range: 100.64.0.0/16\n  custom_dns_zones: [{suffix: company.test}]\n")
	create(t, rootAdmin, "kind: role\nversion: v1\nmetadata: {name: ops}\nspec: {allow: {app_labels: {'*': '*'}}}\n")
	alice := root.AddUser(t, "alice", "ops")
	const roleMap = "    - remote: '*'\n      local: [all]\n"
	startLeaf := func(name string, zones string, apps ...clustertest.App) *node {
		t.Helper()
		for i := range apps {
			apps[i].URI = "tcp://" + clustertest.GreeterServer(t, name+"/"+apps[i].Name)
		}
		leaf := startNode(t, clustertest.Config(t, name, "proxy."+name, apps...))
		admin := leaf.admin(t)
		create(t, admin, "kind: role\nversion: v1\nmetadata: {name: all}\nspec: {allow: {app_labels: {'*': '*'}}}\n")
		create(t, admin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec:\n  ipv4_cidr_range: 100.70.0.0/16\n  custom_dns_zones: "+zones+"\n")
		rng := "100.70.0.0/16" // the first leaf's
		if name != "leaf.test" {
			rng = ""
		}
		token := joinToken(t, root, rng, "leafcorp.test")
		create(t, admin, trustedCluster(root, token, roleMap))
		return leaf
	}

	first := startLeaf("leaf.test", "[{suffix: leafcorp.test}, {suffix: company.test}, {suffix: outside.test}]",
		clustertest.App{Name: "leaf-app"},                                       // leaf-app.proxy.leaf.test
		clustertest.App{Name: "corp-app", PublicAddr: "corp-app.leafcorp.test"}, // in the granted zone
		clustertest.App{Name: "fake", PublicAddr: "root-app.company.test"},      // a root app's address, in the root's zone
		clustertest.App{Name: "db", PublicAddr: "db.leafcorp.test"},             // a root app's address, in the leaf's zone
		clustertest.App{Name: "out", PublicAddr: "out.outside.test"})            // in a zone not granted
	aw := watch(t, alice)
	wantRefused := []string{
		"zone company.test: is company.test, a domain of the root cluster root.test",
		"zone outside.test: not granted by root.test",
		"app fake: address root-app.company.test is the address of an app of the root cluster root.test",
		"app db: address db.leafcorp.test is the address of an app of the root cluster root.test",
		"app out: address out.outside.test lies outside the leaf's domains",
	}

	t.Run("the token's grants and nothing else reach the users", func(t *testing.T) {
		u := aw.waitFor(t, "leaf.test with its granted zone and range", leafShows("leaf.test", "100.70.0.0/16", []string{"leafcorp.test"}, "corp-app", "leaf-app"))
		if got := leafCatalog(u, "leaf.test").GetRefused(); len(got) != len(wantRefused) || !refusedAll(got, wantRefused...) {
			t.Errorf("refused:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantRefused, "\n  "))
		}
		if got, err := dialLeaf(t, alice, "leaf.test", "corp-app"); err != nil || got != "leaf.test/corp-app" {
			t.Errorf("dial corp-app = %q, %v", got, err)
		}
	})
	t.Run("the laptop's catalog carries the refusals", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(ctxFor(t), patience)
		defer cancel()
		var got []string
		_ = catalog.NewProxySource(testkit.Dial(t, alice)).Watch(ctx, func(cs []catalog.Cluster) {
			for _, c := range cs {
				if c.Name == "leaf.test" && len(c.Refused) == len(wantRefused) {
					got = c.Refused
					cancel()
				}
			}
		})
		if !refusedAll(got, wantRefused...) {
			t.Errorf("catalog.Cluster.Refused = %q", got)
		}
	})
	t.Run("ctl get remote_clusters shows the grants and the refusals", func(t *testing.T) {
		y, err := remoteCluster(t, rootAdmin, "leaf.test")
		if err != nil {
			t.Fatal(err)
		}
		r, err := resource.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		rc := r.(*resource.RemoteCluster)
		if g := rc.Spec.Grants; !slices.Equal(g.Zones, []string{"leafcorp.test"}) || g.IPv4CIDRRange != "100.70.0.0/16" {
			t.Errorf("grants %+v, want the token's", g)
		}
		if got := rc.Status.Refused; len(got) != len(wantRefused) || !refusedAll(got, wantRefused...) {
			t.Errorf("status.refused:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(wantRefused, "\n  "))
		}
	})
	t.Run("each refusal is audited once, not at every catalog pass", func(t *testing.T) {
		req := &api.SearchAuditRequest{User: "leaf:leaf.test"}
		clustertest.WaitForEvents(t, rootAdmin, req, func(evs []audit.Event) bool { return refusedAll(refusals(evs), wantRefused...) })
		time.Sleep(2 * time.Second) // a few more catalog passes
		evs := clustertest.WaitForEvents(t, rootAdmin, req, func([]audit.Event) bool { return true })
		if got := refusals(evs); len(got) != len(wantRefused) {
			t.Errorf("%d leaf.claim.refused events, want %d:\n  %s", len(got), len(wantRefused), strings.Join(got, "\n  "))
		}
		if evs[0].Cluster != "leaf.test" {
			t.Errorf("event names cluster %q", evs[0].Cluster)
		}
	})
	t.Run("the root's admin grants more on the remote_cluster", func(t *testing.T) {
		grant := func(force bool, zones, rng string) error {
			y := "kind: remote_cluster\nversion: v1\nmetadata: {name: leaf.test}\nspec:\n  grants:\n    zones: " + zones + "\n    ipv4_cidr_range: " + rng + "\n"
			_, err := rootAdmin.CreateResource(ctxFor(t), &api.CreateResourceRequest{Yaml: []byte(y), Force: force})
			return err
		}
		if err := grant(false, "[leafcorp.test]", "100.70.0.0/16"); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("create without -f: %v", err)
		}
		if err := grant(true, "[leafcorp.test]", "100.64.0.0/10"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `remote_cluster "leaf.test": spec.grants.ipv4_cidr_range: 100.64.0.0/10 overlaps this cluster's range 100.64.0.0/16`) {
			t.Errorf("a range overlapping the root's: %v", err)
		}
		y := "kind: remote_cluster\nversion: v1\nmetadata: {name: nobody.test}\nspec: {grants: {zones: [x.test]}}\n"
		if _, err := rootAdmin.CreateResource(ctxFor(t), &api.CreateResourceRequest{Yaml: []byte(y), Force: true}); status.Code(err) != codes.NotFound {
			t.Errorf("grants to a leaf that never joined: %v", err)
		}
		if err := grant(true, "[leafcorp.test, outside.test]", "100.70.0.0/16"); err != nil {
			t.Fatal(err)
		}
		aw.waitFor(t, "outside.test and its app granted", leafShows("leaf.test", "100.70.0.0/16", []string{"leafcorp.test", "outside.test"}, "corp-app", "leaf-app", "out"))
	})
	t.Run("a second leaf gets nothing the first holds", func(t *testing.T) {
		_, err := rootAdmin.AddToken(ctxFor(t), &api.AddTokenRequest{Type: "trusted_cluster", LeafIpv4CidrRange: "100.70.0.0/24"})
		if err == nil || !strings.Contains(err.Error(), "overlaps 100.70.0.0/16, granted to leaf cluster leaf.test") {
			t.Errorf("a token granting part of leaf.test's range: %v", err)
		}
		startLeaf("leaf2.test", "[{suffix: leafcorp.test}]",
			clustertest.App{Name: "own"},
			clustertest.App{Name: "dup", PublicAddr: "corp-app.leafcorp.test"})
		u := aw.waitFor(t, "leaf2.test with only its own app", leafShows("leaf2.test", "100.64.0.0/16", nil, "own"))
		want := []string{
			"zone leafcorp.test: is leafcorp.test, a domain of leaf cluster leaf.test (joined first)",
			"range 100.70.0.0/16: not granted by root.test: its apps take addresses from the root's range 100.64.0.0/16",
			"app dup: address corp-app.leafcorp.test is already the address of another app of leaf cluster leaf.test",
		}
		if got := leafCatalog(u, "leaf2.test").GetRefused(); len(got) != len(want) || !refusedAll(got, want...) {
			t.Errorf("refused:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if !leafShows("leaf.test", "100.70.0.0/16", []string{"leafcorp.test", "outside.test"}, "corp-app", "leaf-app", "out")(u) {
			t.Errorf("the first leaf lost something to the second: %v", leafCatalog(u, "leaf.test"))
		}
	})
	t.Run("the first leaf's grants stay its own while it is away", func(t *testing.T) {
		first.stop()
		u := aw.waitFor(t, "leaf.test gone", noLeaf("leaf.test"))
		if !leafShows("leaf2.test", "100.64.0.0/16", nil, "own")(u) {
			t.Errorf("leaf2.test took over: %v", leafCatalog(u, "leaf2.test"))
		}
		if got := leafCatalog(u, "leaf2.test").GetRefused(); !refusedAll(got, "zone leafcorp.test: is leafcorp.test, a domain of leaf cluster leaf.test (joined first)") {
			t.Errorf("refused: %q", got)
		}
	})
}
