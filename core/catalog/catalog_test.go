package catalog

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/testkit"
)

func testSnapshot() *Snapshot {
	return NewSnapshot([]Cluster{
		{
			ID: "proxy.example.test:3080", Via: "proxy.example.test:3080",
			Name: "root", ProxyHost: "proxy.example.test", IPv4Range: netip.MustParsePrefix("100.64.0.0/10"),
			Zones: []string{"company.test", "bar.qux.test"},
			Apps: []App{
				{Name: "tcp-app", PublicAddr: "tcp-app.company.test"},
				{Name: "deep", PublicAddr: "tcp-app.foo.bar.qux.test"},
				{Name: "under-proxy", PublicAddr: "db.proxy.example.test"},
				{Name: "outside", PublicAddr: "app.elsewhere.test"},
				{Name: "no-addr"},
			},
		},
		{
			ID: "other.test:3080", Via: "other.test:3080",
			Name: "other", ProxyHost: "other.test", IPv4Range: netip.MustParsePrefix("100.64.0.0/10"),
			Zones: []string{"company.test"},
			Apps:  []App{{Name: "o", PublicAddr: "o.other.test"}},
		},
	})
}

func TestLookup(t *testing.T) {
	s := testSnapshot()
	for _, tc := range []struct {
		name, query, wantApp, wantCluster string
	}{
		{"app in custom zone", "tcp-app.company.test", "tcp-app", "root"},
		{"case and trailing dot", "TCP-App.Company.Test.", "tcp-app", "root"},
		{"any depth below the suffix", "tcp-app.foo.bar.qux.test", "deep", "root"},
		{"app under proxy address", "db.proxy.example.test", "under-proxy", "root"},
		{"second cluster", "o.other.test", "o", "other"},
		{"not an app inside a zone", "nope.company.test", "", ""},
		{"app outside every captured domain", "app.elsewhere.test", "", ""},
		{"longer label is not a subdomain", "tcp-app.evilcompany.test", "", ""},
		{"proxy address itself is never an app", "proxy.example.test", "", ""},
		{"no public_addr: under the proxy host", "No-Addr.proxy.example.test", "no-addr", "root"},
		{"empty", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ok := s.Lookup(tc.query)
			if tc.wantApp == "" {
				if ok {
					t.Fatalf("Lookup(%q) = %s/%s, want no match", tc.query, m.Cluster.Name, m.App.Name)
				}
				return
			}
			if !ok {
				t.Fatalf("Lookup(%q): no match, want %s", tc.query, tc.wantApp)
			}
			if m.App.Name != tc.wantApp || m.Cluster.Name != tc.wantCluster {
				t.Fatalf("Lookup(%q) = %s/%s, want %s/%s", tc.query, m.Cluster.Name, m.App.Name, tc.wantCluster, tc.wantApp)
			}
		})
	}
}

func TestDomains(t *testing.T) {
	s := testSnapshot()
	// other's company.test is refused: root had it first.
	if got, want := s.Domains(), []string{"proxy.example.test", "company.test", "bar.qux.test", "other.test"}; !slices.Equal(got, want) {
		t.Errorf("Domains() = %v, want %v", got, want)
	}
	if got := s.Clusters[1].Domains; !slices.Equal(got, []string{"other.test"}) {
		t.Errorf("other's accepted domains = %v, want only its proxy host", got)
	}
}

// fakeSource serves offers from a channel: each value sent is one
// update; an error sent breaks the stream.
type fakeSource struct {
	updates chan any // Cluster, []Cluster (root and leaves) or error
	watches atomic.Int32
}

func newFakeSource() *fakeSource { return &fakeSource{updates: make(chan any, 4)} }

func (f *fakeSource) Watch(ctx context.Context, update func([]Cluster)) error {
	f.watches.Add(1)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v := <-f.updates:
			switch v := v.(type) {
			case Cluster:
				update([]Cluster{v})
			case []Cluster:
				update(v)
			case error:
				return v
			}
		}
	}
}

// runCatalog follows sources as logins "s0", "s1", ... in that order.
func runCatalog(t *testing.T, sources ...Source) *Catalog {
	t.Helper()
	var logins []Login
	for i, s := range sources {
		logins = append(logins, Login{ID: fmt.Sprintf("s%d", i), Source: s})
	}
	cat, err := New(logins, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cat.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cat
}

func ready(t *testing.T, cat *Catalog) (*Snapshot, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return cat.Ready(ctx)
}

func TestCatalogFollowsSources(t *testing.T) {
	down, up := newFakeSource(), newFakeSource()
	down.updates <- errors.New("connection refused")
	up.updates <- Cluster{Name: "up", Apps: []App{{Name: "a", PublicAddr: "a.up.test"}}}
	cat := runCatalog(t, down, up)

	snap, err := ready(t, cat)
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if len(snap.Clusters) != 1 || snap.Clusters[0].Name != "up" {
		t.Fatalf("snapshot = %+v, want only the reachable cluster", snap.Clusters)
	}
	<-cat.Changed()

	// A change reaches the snapshot and signals Changed.
	up.updates <- Cluster{Name: "up", Apps: []App{{Name: "a"}, {Name: "b"}}}
	<-cat.Changed()
	if n := len(cat.Current().Clusters[0].Apps); n != 2 {
		t.Fatalf("after update: %d apps, want 2", n)
	}

	// A broken stream keeps the last offer and is re-opened.
	up.updates <- errors.New("stream reset")
	testkit.Eventually(t, "the stream to be re-opened", func() bool { return up.watches.Load() >= 2 })
	if st := cat.Status()[1]; st.Name != "up" || len(cat.Current().Clusters) != 1 {
		t.Fatalf("after a break: status %+v, snapshot %+v; want the last offer kept", st, cat.Current().Clusters)
	}

	// The cluster that was down comes up later, after the first one in
	// source order.
	down.updates <- Cluster{Name: "late"}
	testkit.Eventually(t, "the late cluster", func() bool { return len(cat.Current().Clusters) == 2 })
	if got := cat.Current().Clusters[0].Name; got != "late" {
		t.Fatalf("first cluster = %s, want source order (late first)", got)
	}
}

func TestCatalogReadyFailsWhenNoClusterAnswers(t *testing.T) {
	down := newFakeSource()
	down.updates <- errors.New("connection refused")
	cat := runCatalog(t, down)
	if _, err := ready(t, cat); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Ready = %v, want the sources' errors", err)
	}
	if _, err := New(nil, nil); err == nil {
		t.Fatal("New without sources: want an error")
	}
	if _, err := New([]Login{{ID: "a", Source: down}, {ID: "a", Source: down}}, nil); err == nil {
		t.Fatal("New with one login twice: want an error")
	}
}

func TestLookupZone(t *testing.T) {
	s := testSnapshot()
	m, ok := s.Lookup("tcp-app.foo.bar.qux.test")
	if !ok || m.Zone != "bar.qux.test" {
		t.Fatalf("Lookup zone = %q, %v; want bar.qux.test", m.Zone, ok)
	}
	if !s.Captures("x.company.test") || s.Captures("x.evilcompany.test") {
		t.Fatal("Captures: wrong suffix matching")
	}
}

// TestCatalogLeaves: a source's leaves join the snapshot after their root,
// in source order, and are listed in the source's status. Who they are is
// the login's ID, whatever a source says.
func TestCatalogLeaves(t *testing.T) {
	first, second := newFakeSource(), newFakeSource()
	first.updates <- []Cluster{{Name: "root", ID: "lie", Via: "lie"}, {Name: "leaf", Via: "other"}}
	second.updates <- Cluster{Name: "other"}
	cat := runCatalog(t, first, second)
	snap, err := ready(t, cat)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range snap.Clusters {
		names = append(names, c.ID+"="+c.Name+"<"+c.Via)
	}
	if want := []string{"s0=root<s0", "s0/leaf=leaf<s0", "s1=other<s1"}; !slices.Equal(names, want) {
		t.Fatalf("snapshot clusters = %v, want %v", names, want)
	}
	if st := cat.Status(); !slices.Equal(st[0].Leaves, []string{"leaf"}) || len(st[1].Leaves) != 0 || st[0].ID != "s0" {
		t.Fatalf("status = %+v", st)
	}
	// A leaf that goes away leaves the snapshot.
	first.updates <- []Cluster{{Name: "root"}}
	testkit.Eventually(t, "the leaf to leave", func() bool { return len(cat.Current().Clusters) == 2 })
}
