package proxy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
)

func appYAML(name, publicAddr string) []byte {
	y := fmt.Sprintf("kind: app\nversion: v1\nmetadata: {name: %s}\nspec:\n  uri: tcp://127.0.0.1:1\n", name)
	if publicAddr != "" {
		y += "  public_addr: " + publicAddr + "\n"
	}
	return []byte(y)
}

// TestCreateAppAddressFromCache: 'vnet ctl create', edit (create -f) and
// rm of apps check addresses against the catalog cache's index (issue 13),
// each seeing the writes before it: an address taken is refused, freed by
// an edit or a removal it can be taken, and cluster.yaml's apps are
// neither replaced nor removed without --force.
func TestCreateAppAddressFromCache(t *testing.T) {
	c := clustertest.Start(t, "root.test", "proxy.root.test", clustertest.App{Name: "static", URI: "tcp://127.0.0.1:1", PublicAddr: "static.company.test"})
	conn, err := c.Admin(t).Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := api.NewClusterClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	create := func(name, publicAddr string, force bool) error {
		_, err := admin.CreateResource(ctx, &api.CreateResourceRequest{Yaml: appYAML(name, publicAddr), Force: force})
		return err
	}
	rm := func(name string, force bool) error {
		_, err := admin.DeleteResource(ctx, &api.DeleteResourceRequest{Kind: "app", Name: name, Force: force})
		return err
	}
	steps := []struct {
		name string
		do   func() error
		want string // part of the error; "" for none
	}{
		{"a takes db", func() error { return create("a", "db.company.test", false) }, ""},
		{"b wants db", func() error { return create("b", "DB.company.test.", false) }, `spec.public_addr "db.company.test" is already the address of app "a"`},
		{"b wants a's default address", func() error { return create("b", "x.proxy.root.test", false) }, ""},
		{"x's default address is b's", func() error { return create("x", "", false) }, `its default address "x.proxy.root.test" (no spec.public_addr) is already the address of app "b"`},
		{"the proxy's own host", func() error { return create("c", "proxy.root.test", false) }, "the proxy's own address"},
		{"cluster.yaml's address", func() error { return create("c", "static.company.test", false) }, `already the address of app "static"`},
		{"cluster.yaml's app replaced", func() error { return create("static", "other.company.test", true) }, "defined in cluster.yaml"},
		{"cluster.yaml's app removed", func() error { return rm("static", false) }, "defined in cluster.yaml"},
		{"a edited to db2", func() error { return create("a", "db2.company.test", true) }, ""},
		{"b takes db, freed by the edit", func() error { return create("b", "db.company.test", true) }, ""},
		{"x takes its default address, freed by the edit", func() error { return create("x", "", false) }, ""},
		{"c wants db2", func() error { return create("c", "db2.company.test", false) }, `already the address of app "a"`},
		{"a removed", func() error { return rm("a", false) }, ""},
		{"c takes db2, freed by the removal", func() error { return create("c", "db2.company.test", false) }, ""},
		{"a removed again", func() error { return rm("a", false) }, "not found"},
	}
	for _, s := range steps {
		err := s.do()
		switch {
		case s.want == "" && err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.want != "" && (err == nil || !strings.Contains(err.Error(), s.want)):
			t.Fatalf("%s: err = %v, want one containing %q", s.name, err, s.want)
		}
	}
}

// TestCreateAppRace: many 'vnet ctl create' of distinct apps with one
// address at once through one proxy: exactly one is stored. Each is
// checked against the catalog cache, which each write waits for before
// the next check (claims.go).
func TestCreateAppRace(t *testing.T) {
	c := clustertest.Start(t, "root.test", "proxy.root.test")
	conn, err := c.Admin(t).Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	admin := api.NewClusterClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = admin.CreateResource(ctx, &api.CreateResourceRequest{Yaml: appYAML(fmt.Sprintf("app%d", i), "db.company.test")})
		})
	}
	wg.Wait()
	stored := 0
	for _, err := range errs {
		switch {
		case err == nil:
			stored++
		case !strings.Contains(err.Error(), `spec.public_addr "db.company.test" is already the address of app`):
			t.Fatalf("create: %v", err)
		}
	}
	res, err := admin.GetResources(ctx, &api.GetResourcesRequest{Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if stored != 1 || len(res.GetYaml()) != 1 {
		t.Fatalf("%d creates succeeded and %d apps are stored, want 1 and 1", stored, len(res.GetYaml()))
	}
}
