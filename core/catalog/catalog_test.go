package catalog

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
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

type fakeSource struct {
	c   Cluster
	err error
}

func (f fakeSource) Fetch(context.Context) (Cluster, error) { return f.c, f.err }

func TestRefreshKeepsReachableClusters(t *testing.T) {
	down := fakeSource{err: errors.New("connection refused")}
	up := fakeSource{c: Cluster{Name: "up"}}
	cat, err := New([]Source{down, up}, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := cat.Refresh(context.Background())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if len(snap.Clusters) != 1 || snap.Clusters[0].Name != "up" || cat.Current() != snap {
		t.Fatalf("snapshot = %+v, want only the reachable cluster", snap.Clusters)
	}

	allDown, _ := New([]Source{down}, nil)
	if _, err := allDown.Refresh(context.Background()); err == nil {
		t.Fatal("Refresh with every cluster down: want an error")
	}
	if _, err := New(nil, nil); err == nil {
		t.Fatal("New without sources: want an error")
	}
}
