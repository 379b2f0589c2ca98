package proxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

func TestAppFromAPI(t *testing.T) {
	tests := []struct {
		name    string
		in      *api.App
		wantErr string
	}{
		{"valid", &api.App{Name: "web", Uri: "tcp://localhost:80", PublicAddr: "Web.Company.Test", Labels: map[string]string{"env": "dev"}}, ""},
		{"no uri", &api.App{Name: "web"}, "spec.uri"},
		{"http uri", &api.App{Name: "web", Uri: "http://localhost:80"}, "spec.uri"},
		{"bad public addr", &api.App{Name: "web", Uri: "tcp://h:1", PublicAddr: "1.2.3.4"}, "spec.public_addr"},
		{"port out of range", &api.App{Name: "web", Uri: "tcp://h", TcpPorts: []*api.PortRange{{Port: 70000}}}, "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := appFromAPI(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("appFromAPI = %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !isAgentApp(app) || app.Metadata.Labels["env"] != "dev" || app.Spec.PublicAddr != "web.company.test" {
				t.Fatalf("app = %+v, want the origin label, its own labels and a normalised public_addr", app)
			}
			if _, ok := tt.in.GetLabels()[OriginLabel]; ok {
				t.Fatal("appFromAPI changed the caller's labels")
			}
		})
	}
}

// TestRegistryLifecycle drives the registry with a fake clock: renewals keep
// an app, expiry and sweeping remove it, a second agent keeps a shared app
// alive, and the cluster's own apps are never taken or removed.
func TestRegistryLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := store.NewMemory()
	res := state.New(st)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &registry{store: st, state: res, self: "127.0.0.1:3080", ttl: 15 * time.Second, now: func() time.Time { return now }}
	static := resource.NewApp("static", "tcp://localhost:1", "", nil)
	if _, err := res.Create(ctx, static, false); err != nil {
		t.Fatal(err)
	}
	mk := func(name string) *resource.App {
		a, err := appFromAPI(&api.App{Name: name, Uri: "tcp://localhost:2"})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	listed := func() string {
		apps, err := res.Apps(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range apps {
			names = append(names, a.Name())
		}
		return strings.Join(names, ",")
	}
	step := func(name string, fn func() error, want string) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := listed(); got != want {
			t.Fatalf("%s: apps = %s, want %s", name, got, want)
		}
	}
	accepted, rejected, err := r.register(ctx, "a1", []*resource.App{mk("shared"), mk("only1"), mk("static")})
	if err != nil || len(accepted) != 2 || len(rejected) != 1 || !strings.Contains(rejected[0], `"static"`) {
		t.Fatalf("register a1 = %d accepted, %q, %v; want static refused", len(accepted), rejected, err)
	}
	if got := listed(); got != "only1,shared,static" {
		t.Fatalf("after register: %s", got)
	}
	if a, _ := res.App(ctx, "static"); isAgentApp(a) {
		t.Fatal("the cluster's own app was taken over")
	}
	if _, _, err := r.register(ctx, "a2", []*resource.App{mk("shared")}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Second)
	step("a1 renews, a2 does not", func() error { return r.renew(ctx, "a1", accepted) }, "only1,shared,static")
	now = now.Add(10 * time.Second) // a2 expired, a1 not
	step("sweep after a2 expired", func() error { return r.sweep(ctx) }, "only1,shared,static")
	if regs, _ := r.live(ctx, "shared"); len(regs) != 1 || regs[0].Agent != "a1" {
		t.Fatalf("live(shared) = %+v, want a1 only", regs)
	}
	step("a1 re-registers without only1", func() error {
		_, _, err := r.register(ctx, "a1", []*resource.App{mk("shared")})
		return err
	}, "shared,static")
	now = now.Add(time.Minute)
	step("sweep after a1 expired", func() error { return r.sweep(ctx) }, "static")
	step("a1 comes back", func() error { return r.renew(ctx, "a1", []*resource.App{mk("shared")}) }, "shared,static")
	step("a1 says goodbye", func() error { return r.drop(ctx, "a1", nil) }, "static")
}
