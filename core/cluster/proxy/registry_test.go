package proxy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
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
		{"name not a DNS label, no public_addr", &api.App{Name: "my_app", Uri: "tcp://h:1"}, `metadata.name "my_app" is not a DNS label`},
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

// newTestRegistry is a registry on st for the proxy host proxy.test. With
// agents nil every agent exists without limits; otherwise agents are the
// records (an ID missing is a removed agent).
func newTestRegistry(st store.Store, res *state.State, now func() time.Time, agents map[string]*auth.Agent) *registry {
	return &registry{
		store: st, state: res, self: "127.0.0.1:3080", proxyHost: "proxy.test", ttl: 15 * time.Second, now: now,
		agent: func(_ context.Context, id string) (auth.Agent, error) {
			if agents == nil {
				return auth.Agent{ID: id}, nil
			}
			a, ok := agents[id]
			if !ok {
				return auth.Agent{}, fmt.Errorf("agent %q: %w", id, auth.ErrNoSuchResource)
			}
			return *a, nil
		},
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
	r := newTestRegistry(st, res, func() time.Time { return now }, nil)
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
	if err != nil || len(accepted) != 2 || len(rejected) != 1 || !strings.Contains(rejected[0].Reason, `"static"`) {
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
	step("a1 renews, a2 does not", func() error { _, _, err := r.register(ctx, "a1", accepted); return err }, "only1,shared,static")
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
	step("a1 comes back", func() error { _, _, err := r.register(ctx, "a1", []*resource.App{mk("shared")}); return err }, "shared,static")
	step("a1 says goodbye", func() error { return r.forget(ctx, "a1") }, "static")
}

// TestRegistryClaims: who may claim which app (issue 9). Each step is one
// registration round of an agent; rounds repeat as heartbeats do.
func TestRegistryClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := store.NewMemory()
	res := state.New(st)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	agents := map[string]*auth.Agent{
		"a1": {ID: "a1"}, "a2": {ID: "a2"},
		"lim": {ID: "lim", Limits: auth.AgentLimits{Apps: []string{"db-*"}, Labels: map[string]string{"env": "dev"}}},
	}
	r := newTestRegistry(st, res, func() time.Time { return now }, agents)
	for _, a := range []*resource.App{
		resource.NewApp("static", "tcp://localhost:1", "static.company.test", nil),
		resource.NewApp("web", "tcp://localhost:1", "", nil), // web.proxy.test
	} {
		if _, err := res.Create(ctx, a, false); err != nil {
			t.Fatal(err)
		}
	}
	mk := func(name, uri, publicAddr, env string) *resource.App {
		a, err := appFromAPI(&api.App{Name: name, Uri: uri, PublicAddr: publicAddr, Labels: map[string]string{"env": env}})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	db := mk("db", "tcp://db:5432", "db.company.test", "dev")
	tests := []struct {
		name    string
		agent   string
		apps    []*resource.App
		refused string // part of the one refusal, "" for none
		want    string // the stored db app afterwards: uri env; "" if none
	}{
		{"a1 registers db first", "a1", []*resource.App{db}, "", "tcp://db:5432 dev"},
		{"a2 the same app: high availability", "a2", []*resource.App{db}, "", "tcp://db:5432 dev"},
		{"a2 with other labels", "a2", []*resource.App{mk("db", "tcp://db:5432", "db.company.test", "prod")},
			`app "db" is already served by agent a1 with another uri, public_addr, tcp_ports or labels`, "tcp://db:5432 dev"},
		{"a2 with another uri", "a2", []*resource.App{mk("db", "tcp://evil:5432", "db.company.test", "dev")},
			`already served by agent a1`, "tcp://db:5432 dev"},
		{"a1 alone may change its app", "a1", []*resource.App{mk("db", "tcp://db2:5432", "db.company.test", "dev")}, "", "tcp://db2:5432 dev"},
		{"a cluster app's public_addr", "a1", []*resource.App{db, mk("evil", "tcp://x:1", "Static.Company.Test.", "dev")},
			`app "evil": spec.public_addr "static.company.test" is already the address of app "static"`, "tcp://db:5432 dev"},
		{"a cluster app's default address", "a1", []*resource.App{db, mk("evil", "tcp://x:1", "web.proxy.test", "dev")},
			`is already the address of app "web"`, "tcp://db:5432 dev"},
		{"another agent app's address", "a2", []*resource.App{mk("db2", "tcp://x:1", "db.company.test", "dev")},
			`app "db2": spec.public_addr "db.company.test" is already the address of app "db"`, "tcp://db:5432 dev"},
		{"the proxy's host", "a2", []*resource.App{mk("p", "tcp://x:1", "proxy.test", "dev")}, `is the proxy's own address`, "tcp://db:5432 dev"},
		{"a cluster app's name", "a2", []*resource.App{mk("static", "tcp://x:1", "static.company.test", "dev")}, `defined by the cluster itself`, "tcp://db:5432 dev"},
		{"token limits: name outside the globs", "lim", []*resource.App{mk("web2", "tcp://x:1", "", "dev")}, `the agent's join token allows only apps named db-*`, "tcp://db:5432 dev"},
		{"token limits: labels", "lim", []*resource.App{mk("db-x", "tcp://x:1", "", "prod")}, `allows only apps labelled env=dev`, "tcp://db:5432 dev"},
		{"token limits: allowed", "lim", []*resource.App{mk("db-x", "tcp://x:1", "", "dev")}, "", "tcp://db:5432 dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for round := 0; round < 2; round++ { // a heartbeat decides the same
				_, refused, err := r.register(ctx, tt.agent, tt.apps)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case tt.refused == "" && len(refused) != 0:
					t.Fatalf("round %d: refused %+v, want none", round, refused)
				case tt.refused != "" && (len(refused) != 1 || !strings.Contains(refused[0].Reason, tt.refused)):
					t.Fatalf("round %d: refused %+v, want one saying %q", round, refused, tt.refused)
				}
			}
			got := ""
			if a, err := res.App(ctx, "db"); err == nil {
				got = a.Spec.URI + " " + a.Metadata.Labels["env"]
			}
			if got != tt.want {
				t.Fatalf("stored db = %q, want %q", got, tt.want)
			}
		})
	}
	// a2 claims another db while a1 serves it; once a1 has gone, a2's
	// next round (a heartbeat) gets it.
	prod := mk("db", "tcp://db:5432", "db.company.test", "prod")
	if _, refused, _ := r.register(ctx, "a2", []*resource.App{prod}); len(refused) != 1 {
		t.Fatalf("a2 refused %+v while a1 serves db", refused)
	}
	if err := r.forget(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	if _, refused, err := r.register(ctx, "a2", []*resource.App{prod}); err != nil || len(refused) != 0 {
		t.Fatalf("a2 after a1 left: refused %+v, %v", refused, err)
	}
	if a, _ := res.App(ctx, "db"); a == nil || a.Metadata.Labels["env"] != "prod" {
		t.Fatalf("db = %+v, want a2's", a)
	}
	// A removed agent registers nothing.
	delete(agents, "a2")
	if _, _, err := r.register(ctx, "a2", []*resource.App{prod}); !errors.Is(err, auth.ErrNoSuchResource) {
		t.Fatalf("register of a removed agent = %v, want ErrNoSuchResource", err)
	}
}

// TestRecordRefusals: the same refusal is fresh (audited) once while the
// agent repeats it; a new one is fresh again; none left clears them.
func TestRecordRefusals(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	r := newTestRegistry(st, state.New(st), func() time.Time { return now }, nil)
	one := claimRefusal{App: "db", Reason: `app "db": one`}
	two := claimRefusal{App: "web", Reason: `app "web": two`}
	steps := []struct {
		name    string
		refused []claimRefusal
		fresh   int
		listed  int
	}{
		{"first refusal", []claimRefusal{one}, 1, 1},
		{"the same again (a heartbeat)", []claimRefusal{one}, 0, 1},
		{"one more", []claimRefusal{one, two}, 1, 2},
		{"none left", nil, 0, 0},
		{"back again", []claimRefusal{one}, 1, 1},
	}
	for _, s := range steps {
		fresh, err := r.recordRefusals(ctx, "a1", s.refused)
		if err != nil {
			t.Fatal(err)
		}
		all, err := r.refusals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listed := 0
		for _, ar := range all {
			listed += len(ar.Claims)
		}
		if len(fresh) != s.fresh || listed != s.listed {
			t.Fatalf("%s: %d fresh, %d listed; want %d, %d", s.name, len(fresh), listed, s.fresh, s.listed)
		}
	}
	now = now.Add(time.Minute) // the agent stopped claiming: expired
	if err := r.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if all, _ := r.refusals(ctx); len(all) != 0 {
		t.Fatalf("refusals after expiry: %+v", all)
	}
	if fresh, _ := r.recordRefusals(ctx, "a1", []claimRefusal{one}); len(fresh) != 1 {
		t.Fatal("a refusal made again after its record expired is not fresh")
	}
}
