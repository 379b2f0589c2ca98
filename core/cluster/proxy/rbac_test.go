package proxy_test

import (
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// labelledCluster has an app for each environment.
func labelledCluster(t *testing.T) *clustertest.Cluster {
	return clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "dev-db", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "dev-db.company.test", Labels: map[string]string{"env": "dev"}},
		clustertest.App{Name: "prod-db", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "prod-db.company.test", Labels: map[string]string{"env": "prod"}},
	)
}

func create(t *testing.T, admin api.ClusterClient, yaml string, force bool) *api.CreateResourceResponse {
	t.Helper()
	res, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte(yaml), Force: force})
	if err != nil {
		t.Fatalf("create %q: %v", yaml, err)
	}
	return res
}

func appNames(t *testing.T, p *profile.Profile) []string {
	t.Helper()
	res, err := api.NewClusterClient(testkit.Dial(t, p)).ListApps(ctx(t), &api.ListAppsRequest{})
	if err != nil {
		t.Fatalf("ListApps: %v", err)
	}
	var names []string
	for _, a := range res.GetApps() {
		names = append(names, a.GetName())
	}
	return names
}

// echoOnce dials app, sends msg and reads it back.
func echoOnce(t *testing.T, p *profile.Profile, app, msg string) error {
	t.Helper()
	conn, err := tunnel.NewClient(testkit.Dial(t, p), "root.test").Dial(ctx(t), app, 5432, "100.64.0.1:40000")
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo through %s = %q, %v", app, buf, err)
	}
	return nil
}

const prodOnly = "kind: role\nversion: v1\nmetadata: {name: prod-only}\nspec:\n  allow:\n    app_labels: {env: prod}\n"

func TestRolesDecideDialsAndListing(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	create(t, admin, prodOnly, false)
	create(t, admin, "kind: role\nversion: v1\nmetadata: {name: no-dev}\nspec:\n  deny:\n    app_labels: {env: dev}\n", false)
	alice := c.AddUser(t, "alice", "dev") // preset: every app
	bob := c.AddUser(t, "bob", "prod-only")
	carol := c.AddUser(t, "carol", "dev", "no-dev") // deny wins over the preset's allow
	nobody := c.AddUser(t, "dave", "admin")         // administration grants no apps

	tests := []struct {
		name      string
		p         *profile.Profile
		visible   []string
		reachable map[string]bool
	}{
		{"preset dev role", alice, []string{"dev-db", "prod-db"}, map[string]bool{"dev-db": true, "prod-db": true}},
		{"allow env prod", bob, []string{"prod-db"}, map[string]bool{"dev-db": false, "prod-db": true}},
		{"deny wins", carol, []string{"prod-db"}, map[string]bool{"dev-db": false, "prod-db": true}},
		{"admin only", nobody, nil, map[string]bool{"dev-db": false, "prod-db": false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appNames(t, tt.p); !slices.Equal(got, tt.visible) {
				t.Errorf("ListApps = %v, want %v", got, tt.visible)
			}
			for app, ok := range tt.reachable {
				err := echoOnce(t, tt.p, app, "hi")
				if ok && err != nil {
					t.Errorf("dial %s: %v, want success", app, err)
				}
				if !ok && (!errors.Is(err, tunnel.ErrDenied) || !strings.Contains(err.Error(), "may not reach app")) {
					t.Errorf("dial %s: %v, want ErrDenied saying why", app, err)
				}
			}
		})
	}

	t.Run("a changed role applies without a new login", func(t *testing.T) {
		create(t, admin, strings.Replace(prodOnly, "{env: prod}", "{env: [prod, dev]}", 1), true)
		if err := echoOnce(t, bob, "dev-db", "again"); err != nil {
			t.Fatalf("dial after the role allows dev: %v", err)
		}
	})
	t.Run("changed user roles apply to the old certificate", func(t *testing.T) {
		create(t, admin, "kind: user\nversion: v1\nmetadata: {name: bob}\nspec: {roles: [no-dev]}\n", true)
		if got := appNames(t, bob); len(got) != 0 {
			t.Fatalf("ListApps after bob lost prod-only = %v, want none", got)
		}
		if err := echoOnce(t, bob, "prod-db", "x"); !errors.Is(err, tunnel.ErrDenied) {
			t.Fatalf("dial: %v, want ErrDenied", err)
		}
	})
}

// waitForEvents polls the audit log until want holds.
func waitForEvents(t *testing.T, admin api.ClusterClient, req *api.SearchAuditRequest, want func([]audit.Event) bool) []audit.Event {
	t.Helper()
	return clustertest.WaitForEvents(t, admin, req, want)
}

func TestAuditRecordsSessionsAndDenials(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	create(t, admin, prodOnly, false)
	alice := c.AddUser(t, "alice", "dev")
	bob := c.AddUser(t, "bob", "prod-only")

	if err := echoOnce(t, bob, "dev-db", "x"); !errors.Is(err, tunnel.ErrDenied) {
		t.Fatalf("bob's dial: %v, want ErrDenied", err)
	}
	// alice sends 11 bytes; the echo app returns them and "bye" after
	// her half-close.
	conn, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").Dial(ctx(t), "dev-db", 5432, "100.64.0.1:40000")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(conn); err != nil || string(got) != "hello worldbye" {
		t.Fatalf("read %q, %v", got, err)
	}
	conn.Close()

	evs := waitForEvents(t, admin, &api.SearchAuditRequest{}, func(evs []audit.Event) bool {
		return slices.ContainsFunc(evs, func(ev audit.Event) bool { return ev.Type == audit.SessionEnd })
	})
	var start, end, denied *audit.Event
	for i := range evs {
		switch ev := &evs[i]; {
		case ev.Type == audit.SessionStart && ev.User == "alice":
			start = ev
		case ev.Type == audit.SessionEnd && ev.User == "alice":
			end = ev
		case ev.Type == audit.SessionRejected && ev.User == "bob":
			denied = ev
		}
	}
	if start == nil || end == nil || denied == nil {
		t.Fatalf("want alice's start and end and bob's rejection, got %+v", evs)
	}
	if start.App != "dev-db" || start.Cluster != "root.test" || start.ClientReportedAddr != "100.64.0.1:40000" || start.ClientAddr == "" || start.Target == "" || start.SessionID == "" {
		t.Errorf("start = %+v", start)
	}
	if end.SessionID != start.SessionID || end.BytesIn != 11 || end.BytesOut != 14 || end.Duration <= 0 || end.Error != "" {
		t.Errorf("end = %+v; want the start's session, 11 bytes in, 14 out, a duration, no error", end)
	}
	if denied.App != "dev-db" || !strings.Contains(denied.Error, "access denied") {
		t.Errorf("rejection = %+v", denied)
	}

	for _, tt := range []struct {
		name  string
		req   *api.SearchAuditRequest
		users []string
	}{
		{"by user", &api.SearchAuditRequest{User: "bob"}, []string{"bob"}},
		{"by app", &api.SearchAuditRequest{App: "prod-db"}, nil},
		{"since the future", &api.SearchAuditRequest{SinceUnixNano: time.Now().Add(time.Hour).UnixNano()}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := admin.SearchAudit(ctx(t), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			for _, data := range res.GetEventsJson() {
				var ev audit.Event
				if err := json.Unmarshal(data, &ev); err != nil || !slices.Contains(tt.users, ev.User) {
					t.Errorf("event %s not selected by %v", data, tt.req)
				}
			}
		})
	}
	if _, err := api.NewClusterClient(testkit.Dial(t, alice)).SearchAudit(ctx(t), &api.SearchAuditRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a user reading the audit log: %v, want PermissionDenied", err)
	}
}

func TestPasswordLoginAndLimit(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	res, err := admin.AddUser(ctx(t), &api.AddUserRequest{Name: "erin", Roles: []string{"dev"}})
	if err != nil {
		t.Fatal(err)
	}
	pin := c.Daemon.Auth().CA().Pin()
	trust := func(got string) error {
		if got != pin {
			return errors.New("wrong pin")
		}
		return nil
	}
	login := func(cred profile.Credentials) (*profile.Profile, error) {
		return profile.LoginWith(ctx(t), c.Addr, "erin", cred, trust)
	}
	if _, err := login(profile.Credentials{Token: res.GetToken(), NewPassword: "short"}); status.Code(errors.Unwrap(err)) != codes.InvalidArgument || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("weak password at sign-up: %v, want InvalidArgument too short", err)
	}
	if _, err := login(profile.Credentials{Token: res.GetToken(), NewPassword: "correct horse"}); err != nil {
		t.Fatalf("sign-up with a password (the weak one did not spend the token): %v", err)
	}
	p, err := login(profile.Credentials{Password: "correct horse"})
	if err != nil {
		t.Fatalf("password login: %v", err)
	}
	if got := appNames(t, p); len(got) != 2 {
		t.Fatalf("apps after password login = %v", got)
	}
	var last error
	for i := 0; i < 5; i++ {
		if _, last = login(profile.Credentials{Password: "wrong horse"}); status.Code(errors.Unwrap(last)) != codes.Unauthenticated {
			t.Fatalf("wrong password %d: %v, want Unauthenticated", i, last)
		}
	}
	_, err = login(profile.Credentials{Password: "correct horse"})
	if status.Code(errors.Unwrap(err)) != codes.ResourceExhausted || !strings.Contains(err.Error(), "too many failed logins, try again in") {
		t.Fatalf("right password after 5 failures: %v, want ResourceExhausted 'too many failed logins, try again in N s'", err)
	}
}

func TestRemovedUserIsCutOff(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	alice := c.AddUser(t, "alice", "dev")
	conn, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").Dial(ctx(t), "dev-db", 5432, "")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	res, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "alice"})
	if err != nil || res.GetSessionsClosed() != 1 {
		t.Fatalf("rm user/alice = %v, %v; want 1 session closed", res, err)
	}
	if _, err := io.ReadAll(conn); err == nil {
		t.Error("the open connection ended cleanly; want it cut")
	}
	_, err = api.NewClusterClient(testkit.Dial(t, alice)).ListApps(ctx(t), &api.ListAppsRequest{})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "no longer exists") {
		t.Fatalf("ListApps with a removed user's certificate: %v", err)
	}
	if _, err := tunnel.NewClient(testkit.Dial(t, alice), "root.test").Dial(ctx(t), "dev-db", 5432, ""); err == nil {
		t.Fatal("dial with a removed user's certificate succeeded")
	}
}

func TestAdminUsersAndRoles(t *testing.T) {
	c := labelledCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	create(t, admin, prodOnly, false)

	res := create(t, admin, "kind: user\nversion: v1\nmetadata: {name: frank}\nspec: {roles: [prod-only]}\n", false)
	if !res.GetCreated() || len(res.GetSignupToken()) != 32 {
		t.Fatalf("create user = %v; want created with a sign-up token", res)
	}
	got, err := admin.GetResources(ctx(t), &api.GetResourcesRequest{Kind: "user", Name: "frank"})
	if err != nil || len(got.GetYaml()) != 1 || !strings.Contains(string(got.GetYaml()[0]), "roles:\n    - prod-only\n") || !strings.Contains(string(got.GetYaml()[0]), "password_set: false") {
		t.Fatalf("get user/frank = %q, %v", got.GetYaml(), err)
	}

	for _, tt := range []struct {
		name string
		call func() error
		code codes.Code
		want string
	}{
		{"unknown role at users add", func() error {
			_, err := admin.AddUser(ctx(t), &api.AddUserRequest{Name: "gina", Roles: []string{"prod-onyl"}})
			return err
		}, codes.InvalidArgument, `role "prod-onyl" does not exist (roles: access, admin, dev, prod-only)`},
		{"unknown role in a user resource", func() error {
			_, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte("kind: user\nversion: v1\nmetadata: {name: gina}\nspec: {roles: [ops]}\n")})
			return err
		}, codes.InvalidArgument, `role "ops" does not exist`},
		{"existing user without -f", func() error {
			_, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte("kind: user\nversion: v1\nmetadata: {name: frank}\n")})
			return err
		}, codes.InvalidArgument, "already exists: use -f"},
		{"role in use", func() error {
			_, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "role", Name: "prod-only"})
			return err
		}, codes.InvalidArgument, `role "prod-only" is held by frank`},
		{"the built-in admin role", func() error {
			_, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "role", Name: "admin"})
			return err
		}, codes.InvalidArgument, "built in"},
		{"the built-in admin user", func() error {
			_, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "admin"})
			return err
		}, codes.InvalidArgument, "cannot be removed"},
		{"unknown app", func() error {
			_, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "app", Name: "nope"})
			return err
		}, codes.NotFound, `app "nope"`},
		{"unknown kind", func() error {
			_, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "widget", Name: "x"})
			return err
		}, codes.InvalidArgument, `unknown kind "widget"`},
		{"a role called admin", func() error {
			_, err := admin.CreateResource(ctx(t), &api.CreateResourceRequest{Yaml: []byte("kind: role\nversion: v1\nmetadata: {name: admin}\n")})
			return err
		}, codes.InvalidArgument, "built-in administration role"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v; want %v, one line containing %q", err, tt.code, tt.want)
			}
		})
	}

	// Removing, in order: the user, then their role; the vnet_config
	// goes back to the default.
	if _, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "user", Name: "frank"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "role", Name: "prod-only"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetResources(ctx(t), &api.GetResourcesRequest{Kind: "role", Name: "prod-only"}); status.Code(err) != codes.NotFound {
		t.Fatalf("get a removed role: %v, want NotFound", err)
	}
	create(t, admin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec: {ipv4_cidr_range: 10.64.0.0/16}\n", false)
	if _, err := admin.DeleteResource(ctx(t), &api.DeleteResourceRequest{Kind: "vnet_config"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := admin.GetVNetConfig(ctx(t), &api.GetVNetConfigRequest{})
	if err != nil || cfg.GetIpv4CidrRange() != "100.64.0.0/10" {
		t.Fatalf("vnet_config after rm = %v, %v; want the default", cfg, err)
	}
}
