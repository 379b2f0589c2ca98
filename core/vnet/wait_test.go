package vnet_test

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/vnet"
)

// TestStartsWithoutACluster: VNet starts while no cluster answers, says
// so in its status, serves nothing, and serves the cluster's apps once it
// answers (issue 14). Progress hears why the catalog has not loaded, then
// that it has, with its app.
func TestStartsWithoutACluster(t *testing.T) {
	c := clustertest.Start(t, "root.test", "proxy.root.test",
		clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"},
	)
	clustertest.CreateResource(t, c.Admin(t), vnetConfig("", "company.test"))
	cut := clustertest.NewCutter(t, c.Addr)
	home := t.TempDir()
	p := c.AddUser(t, "alice", "dev")
	p.ProxyAddr = cut.Addr()
	if err := profile.Save(home, p); err != nil {
		t.Fatal(err)
	}
	cut.Cut()
	progress := &progressLog{}
	r, err := vnet.Open(vnet.Options{ProfileDir: home, StateDir: filepath.Join(home, "state"), Upstream: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	vnetEnd, _ := stacktest.Pipe(64)
	h := &pipeHost{PacketIO: vnetEnd, applied: make(chan netcfg.Settings, 16)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()

	waitUntil(t, "status says VNet waits for a cluster", func() bool {
		st := r.Status()
		return len(st.Problems) == 1 && strings.Contains(st.Problems[0], "no cluster answered yet") && strings.Contains(st.Problems[0], "retrying with back-off")
	})
	waitUntil(t, "progress hears why the catalog has not loaded", func() bool {
		return progress.has("cluster " + cut.Addr() + " not connected: ")
	})
	select {
	case s := <-h.applied:
		t.Fatalf("settings applied with no cluster: %+v", s)
	case err := <-done:
		t.Fatalf("Run ended with no cluster: %v", err)
	default:
	}
	cut.Restore()
	s := <-h.applied
	if len(s.DNSZones) == 0 || len(r.Status().Apps) != 1 {
		t.Errorf("after the cluster answered: settings %+v, status %+v", s, r.Status())
	}
	for _, want := range []string{"cluster " + cut.Addr() + " connected: 1 apps", "app added: echo.company.test"} {
		if !progress.has(want) {
			t.Errorf("progress %q: want %q", progress.all(), want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// waitUntil polls cond until it holds (the test's own deadline bounds it).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if dl, ok := t.Deadline(); ok && time.Until(dl) < time.Second {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// progressLog records what vnet.Progress hears, one line per event.
type progressLog struct {
	mu     sync.Mutex
	events []string
}

func (p *progressLog) add(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events = append(p.events, line)
}

func (p *progressLog) Cluster(c catalog.ClusterStatus) {
	if c.Connected {
		p.add(fmt.Sprintf("cluster %s connected: %d apps", c.ID, c.Apps))
	} else {
		p.add(fmt.Sprintf("cluster %s not connected: %s", c.ID, c.Error))
	}
}

func (p *progressLog) AppsChanged(changes vnet.AppChanges) {
	for _, c := range changes.List {
		what := "gone"
		if c.Added {
			what = "added"
		}
		p.add(fmt.Sprintf("app %s: %s", what, c.Name))
	}
}

func (p *progressLog) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.events)
}

// has reports whether an event starts with prefix.
func (p *progressLog) has(prefix string) bool {
	return slices.ContainsFunc(p.all(), func(e string) bool { return strings.HasPrefix(e, prefix) })
}
