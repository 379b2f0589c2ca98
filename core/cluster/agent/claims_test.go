package agent_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/testkit"
	"github.com/vnetproject/vnet/core/tunnel"
)

// logBuffer keeps what an agent logs, for tests that read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// refused returns the refused claims 'vnet ctl get apps' shows.
func refused(t *testing.T, admin api.ClusterClient) string {
	t.Helper()
	res, err := admin.GetResources(ctxFor(t), &api.GetResourcesRequest{Kind: "app"})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(res.GetRefused(), "\n")
}

// TestSecondAgentOtherLabelsRefused: a second agent registering an app
// name another agent serves, with other labels, is refused: the agent
// logs why, 'ctl get apps' shows it, the audit log has it once however
// many heartbeats repeat it, and the first agent's app keeps working.
// Once the first agent has gone, the second one's claim is accepted.
func TestSecondAgentOtherLabelsRefused(t *testing.T) {
	c := startCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	db := app("db", "db.internal:80", "db.company.test")
	first := startAgentWith(t, c, c.Addr, agentOptions{dial: dialTo(greeter(t, "first"))}, db)
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "db listed", func() bool { return u.apps(t)["db"] == "db.company.test" })

	other := db
	other.Labels = map[string]string{"env": "prod"}
	var log logBuffer
	second := startAgentWith(t, c, c.Addr, agentOptions{dial: dialTo(greeter(t, "second")), log: log.logger()}, other)
	want := `app \"db\" is already served by agent ` + first.id + " with another uri, public_addr, tcp_ports or labels"
	testkit.Eventually(t, "the second agent to log its refusal", func() bool {
		return log.contains("app refused by the cluster") && log.contains(want)
	})
	if got, want := refused(t, admin), "agent "+second.id+`: app "db" is already served by agent `+first.id; !strings.Contains(got, want) {
		t.Fatalf("ctl get apps refused:\n%s\nwant %s", got, want)
	}
	time.Sleep(5 * heartbeat) // heartbeats repeat the claim
	for i := 0; i < 20; i++ {
		if got, err := u.read(t, "db"); err != nil || got != "first" {
			t.Fatalf("read db = %q, %v; want the first agent's app", got, err)
		}
	}
	res, err := admin.GetResources(ctxFor(t), &api.GetResourcesRequest{Kind: "app", Name: "db"})
	if err != nil || len(res.GetYaml()) != 1 || !strings.Contains(string(res.GetYaml()[0]), "env: test") {
		t.Fatalf("stored db = %q, %v; want the first agent's labels", res.GetYaml(), err)
	}
	evs := clustertest.WaitForEvents(t, admin, &api.SearchAuditRequest{App: "db"}, func(evs []audit.Event) bool { return len(evs) > 0 })
	n := 0
	for _, ev := range evs {
		if ev.Type == audit.AppClaimRefused {
			n++
			if ev.User != auth.AgentUserPrefix+second.id || !strings.Contains(ev.Error, "already served by agent") {
				t.Fatalf("audit event %+v", ev)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d %s events, want 1 (not one per heartbeat): %+v", n, audit.AppClaimRefused, evs)
	}

	first.stop() // goodbye: the name is free, the second agent's next heartbeat takes it
	testkit.Eventually(t, "the second agent's db", func() bool { got, err := u.read(t, "db"); return err == nil && got == "second" })
	testkit.Eventually(t, "the refusal to leave ctl get apps", func() bool { return refused(t, admin) == "" })
}

// TestAgentCannotTakeClusterAddress: an agent's app whose public_addr is a
// cluster app's address, or the proxy's own host, is refused; the cluster
// app keeps its address and target, and the agent's other app is served.
func TestAgentCannotTakeClusterAddress(t *testing.T) {
	c := startCluster(t, app("static", greeter(t, "static"), "static.company.test"))
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	startAgent(t, c, c.Addr,
		app("evil", greeter(t, "impostor"), "Static.Company.Test."),
		app("proxy", greeter(t, "impostor"), "proxy.root.test"),
		app("mine", greeter(t, "mine"), ""))
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "mine listed", func() bool { _, ok := u.apps(t)["mine"]; return ok })
	testkit.Eventually(t, "both refusals in ctl get apps", func() bool {
		got := refused(t, admin)
		return strings.Contains(got, `app "evil": spec.public_addr "static.company.test" is already the address of app "static"`) &&
			strings.Contains(got, `app "proxy": spec.public_addr "proxy.root.test" is the proxy's own address`)
	})
	apps := u.apps(t)
	if _, ok := apps["evil"]; ok {
		t.Fatalf("apps = %v: the refused app is listed", apps)
	}
	if got, err := u.read(t, "static"); err != nil || got != "static" {
		t.Fatalf("read static = %q, %v; want the cluster's own target", got, err)
	}
	if got, err := u.read(t, "mine"); err != nil || got != "mine" {
		t.Fatalf("read mine = %q, %v", got, err)
	}
}

// TestJoinTokenLimits: an agent joined with a limited token serves only
// the apps whose names match the token's globs and whose labels include
// the token's.
func TestJoinTokenLimits(t *testing.T) {
	c := startCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	token, _, err := c.Daemon.Auth().AddAppJoinToken(ctxFor(t), time.Hour, auth.AgentLimits{Apps: []string{"db-*"}, Labels: map[string]string{"env": "test"}})
	if err != nil {
		t.Fatal(err)
	}
	prod := app("db-prod", greeter(t, "prod"), "")
	prod.Labels = map[string]string{"env": "prod"}
	startAgentWith(t, c, c.Addr, agentOptions{token: token},
		app("db-main", greeter(t, "main"), ""), app("web", greeter(t, "web"), ""), prod)
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "db-main listed", func() bool { _, ok := u.apps(t)["db-main"]; return ok })
	testkit.Eventually(t, "two refusals in ctl get apps", func() bool {
		got := refused(t, admin)
		return strings.Contains(got, `app "web": the agent's join token allows only apps named db-*`) &&
			strings.Contains(got, `app "db-prod": the agent's join token allows only apps labelled env=test`)
	})
	got := u.apps(t)
	if _, ok := got["web"]; ok {
		t.Fatalf("apps = %v: web is outside the token's limits", got)
	}
	if _, ok := got["db-prod"]; ok {
		t.Fatalf("apps = %v: db-prod is outside the token's limits", got)
	}
	if got, err := u.read(t, "db-main"); err != nil || got != "main" {
		t.Fatalf("read db-main = %q, %v", got, err)
	}
}

// TestRemoveAgent: 'agents rm' removes the agent's record, its apps at
// once, its open connections and its control stream; it cannot come back
// with its certificate.
func TestRemoveAgent(t *testing.T) {
	c := startCluster(t)
	admin := api.NewClusterClient(testkit.Dial(t, c.Admin(t)))
	var log logBuffer
	a := startAgentWith(t, c, c.Addr, agentOptions{log: log.logger()},
		clustertest.App{Name: "solo", URI: "tcp://" + clustertest.EchoServer(t), Labels: map[string]string{"env": "test"}})
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "solo listed", func() bool { _, ok := u.apps(t)["solo"]; return ok })

	ls, err := admin.ListAgents(ctxFor(t), &api.ListAgentsRequest{})
	if err != nil || len(ls.GetAgents()) != 1 {
		t.Fatalf("ListAgents = %v, %v", ls, err)
	}
	if ag := ls.GetAgents()[0]; ag.GetId() != a.id || !ag.GetConnected() || len(ag.GetApps()) != 1 || ag.GetApps()[0] != "solo" || ag.GetHostName() == "" {
		t.Fatalf("agent = %v; want %s, connected, serving solo", ag, a.id)
	}

	// An open connection through the agent.
	ctx, cancel := context.WithTimeout(ctxFor(t), time.Minute)
	defer cancel()
	conn, err := u.tunnel.Dial(ctx, "solo", 80, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("echo = %q, %v", buf, err)
	}

	rm, err := admin.RemoveAgent(ctxFor(t), &api.RemoveAgentRequest{Id: a.id})
	if err != nil || len(rm.GetAppsRemoved()) != 1 || rm.GetAppsRemoved()[0] != "solo" {
		t.Fatalf("RemoveAgent = %v, %v; want solo removed", rm, err)
	}
	if _, ok := u.apps(t)["solo"]; ok {
		t.Fatal("solo is still listed right after agents rm")
	}
	if _, err := u.read(t, "solo"); !errors.Is(err, tunnel.ErrNotFound) {
		t.Fatalf("dial after agents rm: %v, want ErrNotFound", err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(conn); done <- err }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the open connection through the removed agent was not cut")
	}
	testkit.Eventually(t, "the agent to hear it was removed", func() bool { return log.contains("has been removed from the cluster") })
	time.Sleep(3 * heartbeat) // it tries to come back
	if _, ok := u.apps(t)["solo"]; ok {
		t.Fatal("the removed agent registered solo again")
	}
	if ls, err := admin.ListAgents(ctxFor(t), &api.ListAgentsRequest{}); err != nil || len(ls.GetAgents()) != 0 {
		t.Fatalf("ListAgents after rm = %v, %v", ls, err)
	}
	if _, err := admin.RemoveAgent(ctxFor(t), &api.RemoveAgentRequest{Id: a.id}); status.Code(err) != codes.NotFound {
		t.Fatalf("RemoveAgent again = %v, want NotFound", err)
	}
}
