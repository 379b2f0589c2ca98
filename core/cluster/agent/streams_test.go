package agent_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
)

// TestAgentRemovedElsewhereEndsTunnels (issue 10): an agent removed in
// the store, as another proxy sharing it does, loses its open app
// connections at this proxy too, not only its control stream: the
// proxy's recheck cuts the users' tunnels through it, and the proxy
// holding its stream cuts its connections when it learns of the removal.
func TestAgentRemovedElsewhereEndsTunnels(t *testing.T) {
	c := startCluster(t)
	a := startAgent(t, c, c.Addr,
		clustertest.App{Name: "solo", URI: "tcp://" + clustertest.EchoServer(t), Labels: map[string]string{"env": "test"}})
	u := newUser(t, c, c.Addr)
	waitFor(t, "solo listed", func() bool { _, ok := u.apps(t)["solo"]; return ok })

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

	// Not through this proxy's admin service, which cuts at once.
	if err := c.Daemon.Auth().RemoveAgent(ctxFor(t), a.id); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, conn); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the open connection through the agent removed elsewhere was not cut")
	}
}
