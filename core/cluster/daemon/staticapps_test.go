package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// TestRestartStaticApps: cluster.yaml's apps at each restart, whether the
// file and the store are as the last start left them (found by a digest,
// nothing parsed) or not: an app changed in the file is stored anew, one
// removed from the store (vnet ctl rm --force) or rewritten there (another
// proxy's cluster.yaml) is stored again as the file has it, and one
// removed from the file stays stored.
func TestRestartStaticApps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := clustertest.Config(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "a", URI: "tcp://127.0.0.1:1"},
		clustertest.App{Name: "b", URI: "tcp://127.0.0.1:2"},
		clustertest.App{Name: "c", URI: "tcp://127.0.0.1:3"},
	)
	// restart starts the daemon, lets between() change its store, and
	// returns the apps stored then as "name uri" lines.
	restart := func(between func(*state.State)) string {
		t.Helper()
		if err := cfg.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		d, err := daemon.Start(ctx, cfg, clustertest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		res := state.New(d.Store())
		apps, err := res.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, a := range apps {
			lines = append(lines, a.Name()+" "+a.Spec.URI)
		}
		if between != nil {
			between(res)
		}
		return strings.Join(lines, ", ")
	}
	steps := []struct {
		name    string
		file    []clustertest.App // nil: as before
		between func(*state.State)
		want    string
	}{
		{name: "first start", want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:2, c tcp://127.0.0.1:3",
			between: func(res *state.State) {
				if err := res.Delete(ctx, resource.KindApp, "a"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "a removed from the store: stored again", want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:2, c tcp://127.0.0.1:3",
			between: func(res *state.State) {
				other := resource.NewApp("b", "tcp://127.0.0.1:9", "", nil)
				other.Metadata.Origin = resource.OriginConfig
				if err := res.PutAll(ctx, []resource.Resource{other}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "b rewritten in the store: stored again", want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:2, c tcp://127.0.0.1:3"},
		{name: "unchanged", want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:2, c tcp://127.0.0.1:3"},
		{name: "b changed in the file, c removed from it",
			file: []clustertest.App{{Name: "a", URI: "tcp://127.0.0.1:1"}, {Name: "b", URI: "tcp://127.0.0.1:4"}},
			want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:4, c tcp://127.0.0.1:3"},
		{name: "unchanged again", want: "a tcp://127.0.0.1:1, b tcp://127.0.0.1:4, c tcp://127.0.0.1:3"},
	}
	for _, s := range steps {
		if s.file != nil {
			cfg.Apps.Apps = s.file
		}
		if got := restart(s.between); got != s.want {
			t.Fatalf("%s: stored %s, want %s", s.name, got, s.want)
		}
	}
}
