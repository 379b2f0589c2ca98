package catalog

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/vnet/vnettest"
)

func testSnapshot() *Snapshot {
	return &Snapshot{Clusters: []Cluster{
		{
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
			Name: "other", ProxyHost: "other.test", IPv4Range: netip.MustParsePrefix("100.64.0.0/10"),
			Zones: []string{"company.test"},
			Apps:  []App{{Name: "o", PublicAddr: "o.other.test"}},
		},
	}}
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

func TestDomainsAndRanges(t *testing.T) {
	s := testSnapshot()
	if got, want := s.Domains(), []string{"proxy.example.test", "company.test", "bar.qux.test", "other.test"}; !slices.Equal(got, want) {
		t.Errorf("Domains() = %v, want %v", got, want)
	}
	if got := s.Ranges(); len(got) != 1 || got[0] != netip.MustParsePrefix("100.64.0.0/10") {
		t.Errorf("Ranges() = %v, want the one shared range", got)
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

func runCatalog(t *testing.T, sources ...Source) *Catalog {
	t.Helper()
	cat, err := New(sources, nil)
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
	vnettest.Eventually(t, "the stream to be re-opened", func() bool { return up.watches.Load() >= 2 })
	if st := cat.Status()[1]; st.Name != "up" || len(cat.Current().Clusters) != 1 {
		t.Fatalf("after a break: status %+v, snapshot %+v; want the last offer kept", st, cat.Current().Clusters)
	}

	// The cluster that was down comes up later, after the first one in
	// source order.
	down.updates <- Cluster{Name: "late"}
	vnettest.Eventually(t, "the late cluster", func() bool { return len(cat.Current().Clusters) == 2 })
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

// TestOverlappingZones: two clusters that capture the same or nested
// domains: the most specific domain wins, equal domains go to the first
// profile, and every overlap is reported.
func TestOverlappingZones(t *testing.T) {
	s := &Snapshot{Clusters: []Cluster{
		{Name: "a", ProxyHost: "proxy.a.test", Zones: []string{"company.test"}, Apps: []App{
			{Name: "a-x", PublicAddr: "x.company.test"},
			{Name: "a-y", PublicAddr: "y.db.company.test"},
		}},
		{Name: "b", ProxyHost: "proxy.b.test", Zones: []string{"company.test", "db.company.test"}, Apps: []App{
			{Name: "b-x", PublicAddr: "x.company.test"},
			{Name: "b-y", PublicAddr: "y.db.company.test"},
			{Name: "b-z", PublicAddr: "z.company.test"},
		}},
	}}
	for _, tc := range []struct{ name, want string }{
		{"x.company.test", "a-x"},    // equal domains: first profile
		{"y.db.company.test", "b-y"}, // most specific domain
		{"z.company.test", ""},       // owned by a, which has no such app
		{"w.db.company.test", ""},    // owned by b, no app
		{"x.proxy.b.test", ""},       // b's proxy domain, no app
	} {
		m, ok := s.Lookup(tc.name)
		got := ""
		if ok {
			got = m.App.Name
		}
		if got != tc.want {
			t.Errorf("Lookup(%s) = %q, want %q", tc.name, got, tc.want)
		}
	}
	got := s.Overlaps()
	want := []string{
		"domain company.test is captured by clusters a and b: its names go to a (first profile)",
		"domain db.company.test of cluster b lies inside company.test of cluster a: names under db.company.test go to b (most specific)",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Overlaps() =\n%q\nwant\n%q", got, want)
	}
	if o := testSnapshot().Overlaps(); len(o) != 1 {
		t.Fatalf("testSnapshot overlaps = %q, want only company.test shared", o)
	}
}

// TestCatalogLeaves: a source's leaves join the snapshot after their root,
// in source order, and are listed in the source's status.
func TestCatalogLeaves(t *testing.T) {
	first, second := newFakeSource(), newFakeSource()
	first.updates <- []Cluster{{Name: "root", Via: "root"}, {Name: "leaf", Via: "root"}}
	second.updates <- Cluster{Name: "other", Via: "other"}
	cat := runCatalog(t, first, second)
	snap, err := ready(t, cat)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range snap.Clusters {
		names = append(names, c.Name+"<"+c.Via)
	}
	if want := []string{"root<root", "leaf<root", "other<other"}; !slices.Equal(names, want) {
		t.Fatalf("snapshot clusters = %v, want %v", names, want)
	}
	if st := cat.Status(); !slices.Equal(st[0].Leaves, []string{"leaf"}) || len(st[1].Leaves) != 0 {
		t.Fatalf("status = %+v", st)
	}
	// A leaf that goes away leaves the snapshot.
	first.updates <- []Cluster{{Name: "root", Via: "root"}}
	vnettest.Eventually(t, "the leaf to leave", func() bool { return len(cat.Current().Clusters) == 2 })
}
