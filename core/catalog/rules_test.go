package catalog

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestCheckZone(t *testing.T) {
	for _, tc := range []struct {
		zone string
		want string // "" accepted, else a substring of the reason
	}{
		{"company.test", ""},
		{"corp.example.com", ""},
		{"example.co.uk", ""},
		{"a_b.company.test", ""},
		{"com", "public suffix"},
		{"co.uk", "public suffix"},
		{"test", "public suffix"}, // unknown TLD: a one-label suffix
		{"github.io", "public suffix"},
		{"", "root domain"},
		{"192.0.2.1", "IP address"},
		{"a..b.test", "not a DNS name"},
		{"bad name.test", "not a DNS name"},
		{strings.Repeat("a", 64) + ".test", "not a DNS name"},
		{strings.Repeat("a.", 130) + "test", "longer"},
	} {
		got := CheckZone(tc.zone)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("CheckZone(%q) = %q, want %q", tc.zone, got, tc.want)
		}
	}
}

func TestEffectiveAddr(t *testing.T) {
	for _, tc := range []struct {
		name, publicAddr, proxyHost string
		want, why                   string
	}{
		{"tcp-app", "", "proxy.example.test", "tcp-app.proxy.example.test", ""},
		{"TCP-App", "", "proxy.example.test", "tcp-app.proxy.example.test", ""},
		{"db", "db.company.test", "proxy.example.test", "db.company.test", ""},
		{"my_app", "my_app.company.test", "proxy.example.test", "my_app.company.test", ""}, // explicit: any name
		{"my_app", "", "proxy.example.test", "", `"my_app" is not a DNS label`},
		{"a.b", "", "proxy.example.test", "", "not a DNS label"},
		{"-a", "", "proxy.example.test", "", "starts or ends"},
		{strings.Repeat("a", 64), "", "proxy.example.test", "", "at most 63"},
		{strings.Repeat("a", 63), "", "p.test", strings.Repeat("a", 63) + ".p.test", ""},
		{"app", "", "192.0.2.1", "", "not a DNS name"},
	} {
		addr, why := EffectiveAddr(&App{Name: tc.name, PublicAddr: tc.publicAddr}, tc.proxyHost)
		if addr != tc.want || (tc.why == "") != (why == "") || !strings.Contains(why, tc.why) {
			t.Errorf("EffectiveAddr(%q, %q, %q) = %q, %q; want %q, %q", tc.name, tc.publicAddr, tc.proxyHost, addr, why, tc.want, tc.why)
		}
	}
}

// root is a root cluster logged in at id.
func root(id, name, proxyHost string, zones []string, apps ...App) Cluster {
	return Cluster{ID: id, Via: id, Name: name, ProxyHost: proxyHost, Zones: zones, Apps: apps}
}

// leaf is a leaf of the root logged in at via.
func leaf(via, name, proxyHost string, zones []string, apps ...App) Cluster {
	return Cluster{ID: via + "/" + name, Via: via, Name: name, ProxyHost: proxyHost, Zones: zones, Apps: apps}
}

func kinds(rs []Refusal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Kind)+" "+r.Claim+" of "+r.Cluster)
	}
	return out
}

// TestFirstOwnerWins: the order of logins decides who owns a contested
// zone or name, never its specificity or the names clusters report.
func TestFirstOwnerWins(t *testing.T) {
	a := root("a:3080", "same.test", "proxy.a.test", []string{"company.test"},
		App{Name: "x", PublicAddr: "x.company.test"},
		App{Name: "deep", PublicAddr: "y.db.company.test"})
	b := root("b:3080", "same.test", "proxy.b.test", []string{"company.test", "db.company.test", "b.test", "proxy.a.test"},
		App{Name: "x", PublicAddr: "x.company.test"},
		App{Name: "deep", PublicAddr: "y.db.company.test"},
		App{Name: "own", PublicAddr: "own.b.test"})
	l := leaf("a:3080", "leaf", "proxy.leaf.test", []string{"company.test", "sub.company.test", "leafcorp.test", "b.test"},
		App{Name: "l", PublicAddr: "l.leafcorp.test"})
	s := NewSnapshot([]Cluster{a, l, b})

	for _, tc := range []struct{ name, wantID, wantApp string }{
		{"x.company.test", "a:3080", "x"},
		{"y.db.company.test", "a:3080", "deep"}, // not b's, though b's zone is more specific
		{"l.leafcorp.test", "a:3080/leaf", "l"},
		{"own.b.test", "", ""}, // b.test went to the leaf first; it has no such app
		{"x.proxy.b.test", "", ""},
		{"proxy.b.test", "", ""},
	} {
		m, ok := s.Lookup(tc.name)
		gotID, gotApp := "", ""
		if ok {
			gotID, gotApp = m.Cluster.ID, m.App.Name
		}
		if gotID != tc.wantID || gotApp != tc.wantApp {
			t.Errorf("Lookup(%s) = %s/%s, want %s/%s", tc.name, gotID, gotApp, tc.wantID, tc.wantApp)
		}
	}
	if got, want := s.Clusters[1].Domains, []string{"proxy.leaf.test", "leafcorp.test", "b.test"}; !slices.Equal(got, want) {
		t.Errorf("leaf domains = %v, want %v (its root's zone and what is inside it refused)", got, want)
	}
	// Even b's own proxy host: it lies in b.test, which a's leaf claimed
	// first (and which a's root did not refuse it).
	if got := s.Clusters[2].Domains; len(got) != 0 {
		t.Errorf("b domains = %v, want none", got)
	}
	want := []string{
		"zone company.test of a:3080/leaf",
		"zone sub.company.test of a:3080/leaf",
		"zone proxy.b.test of b:3080",
		"zone company.test of b:3080",
		"zone db.company.test of b:3080",
		"zone b.test of b:3080",
		"zone proxy.a.test of b:3080",
		"name x.company.test of b:3080",
		"name y.db.company.test of b:3080",
		"name own.b.test of b:3080",
	}
	if got := kinds(s.Refused); !slices.Equal(got, want) {
		t.Errorf("refused =\n%q\nwant\n%q", got, want)
	}
	for _, r := range s.Refused {
		if r.Claim == "company.test" && r.Cluster == "b:3080" && (r.Holder != "a:3080" || !strings.Contains(r.Reason, "there first")) {
			t.Errorf("refusal %+v: want the holder a:3080 and why", r)
		}
	}
	// b's apps say why they have no name.
	for _, app := range s.Clusters[2].Apps {
		if app.Unnamed == "" {
			t.Errorf("b's app %s: no reason given", app.Name)
		}
	}

	// The order alone decides: b first, and b owns what a had.
	s = NewSnapshot([]Cluster{b, a})
	if m, ok := s.Lookup("x.company.test"); !ok || m.Cluster.ID != "b:3080" {
		t.Errorf("with b first: x.company.test = %+v, want b's", m)
	}
}

// TestNames: default addresses, names that are no DNS label, two apps
// with one address, and a proxy's host.
func TestNames(t *testing.T) {
	c := root("proxy.example.test:3080", "root", "proxy.example.test", []string{"company.test"},
		App{Name: "tcp-app"},
		App{Name: "Upper"},
		App{Name: "my_app"},
		App{Name: "a", PublicAddr: "dup.company.test"},
		App{Name: "b", PublicAddr: "dup.company.test"},
		App{Name: "c", PublicAddr: "c.proxy.example.test"}, // explicit, same as a default name
		App{Name: "self", PublicAddr: "proxy.example.test"},
		App{Name: "out", PublicAddr: "out.elsewhere.test"},
	)
	other := root("192.0.2.9:3080", "ip", "192.0.2.9", nil, App{Name: "ip-app"})
	s := NewSnapshot([]Cluster{c, other})
	for _, tc := range []struct{ app, addr, unnamed string }{
		{"tcp-app", "tcp-app.proxy.example.test", ""},
		{"Upper", "upper.proxy.example.test", ""},
		{"my_app", "", "not a DNS label"},
		{"a", "dup.company.test", "ambiguous"},
		{"b", "dup.company.test", "ambiguous"},
		{"c", "c.proxy.example.test", ""},
		{"self", "proxy.example.test", "proxy's address"},
		{"out", "out.elsewhere.test", "custom_dns_zones"},
	} {
		a, _ := s.App("proxy.example.test:3080", tc.app)
		if a.Addr != tc.addr || (tc.unnamed == "") != (a.Unnamed == "") || !strings.Contains(a.Unnamed, tc.unnamed) {
			t.Errorf("app %s: %q %q, want %q %q", tc.app, a.Addr, a.Unnamed, tc.addr, tc.unnamed)
		}
	}
	if m, ok := s.Lookup("TCP-APP.proxy.example.test."); !ok || m.App.Name != "tcp-app" || m.Zone != "proxy.example.test" {
		t.Errorf("default address: %+v, %v", m, ok)
	}
	if _, ok := s.Lookup("dup.company.test"); ok {
		t.Error("an ambiguous name resolves")
	}
	if a, _ := s.App("192.0.2.9:3080", "ip-app"); a.Unnamed == "" || len(s.Clusters[1].Domains) != 0 {
		t.Errorf("a proxy at an IP address: app %+v, domains %v; want no name and no domain", a, s.Clusters[1].Domains)
	}
	if got := kinds(s.Refused); !slices.Equal(got, []string{"name dup.company.test of proxy.example.test:3080", "name proxy.example.test of proxy.example.test:3080"}) {
		t.Errorf("refused = %q", got)
	}
}

// TestRefusedZoneApps: a refused zone leaves its apps without names and
// says why; the cluster's other names work.
func TestRefusedZoneApps(t *testing.T) {
	c := root("p:3080", "c", "proxy.c.test", []string{"test", "co.uk", "good.test"},
		App{Name: "x", PublicAddr: "x.bad.test"},
		App{Name: "y", PublicAddr: "y.good.test"},
		App{Name: "z"})
	s := NewSnapshot([]Cluster{c})
	if a, _ := s.App("p:3080", "x"); !strings.Contains(a.Unnamed, "zone test was refused") {
		t.Errorf("x: %q", a.Unnamed)
	}
	for _, n := range []string{"y.good.test", "z.proxy.c.test"} {
		if _, ok := s.Lookup(n); !ok {
			t.Errorf("%s: not found", n)
		}
	}
	if s.Captures("x.bad.test") {
		t.Error("a refused zone is captured")
	}
	if got := kinds(s.Refused); !slices.Equal(got, []string{"zone test of p:3080", "zone co.uk of p:3080"}) {
		t.Errorf("refused = %q", got)
	}
}

// TestRootRefusalsAndDuplicateLeaves: what a root refused for its leaf is
// carried into the snapshot's refusals; a leaf reported twice is kept once.
func TestRootRefusalsAndDuplicateLeaves(t *testing.T) {
	l := leaf("r:1", "leaf", "proxy.leaf.test", nil)
	l.Refused = []string{`zone "company.test" is not granted to leaf "leaf"`}
	s := NewSnapshot([]Cluster{root("r:1", "r", "proxy.r.test", nil), l, l})
	if len(s.Clusters) != 2 {
		t.Fatalf("clusters = %d, want the duplicate leaf dropped", len(s.Clusters))
	}
	if got := kinds(s.Refused); !slices.Equal(got, []string{"cluster leaf of r:1/leaf", "root " + l.Refused[0] + " of r:1/leaf"}) {
		t.Errorf("refused = %q", got)
	}
	if !strings.Contains(s.Refused[1].String(), "its root refused") {
		t.Errorf("String() = %q", s.Refused[1].String())
	}
}

func TestAcceptRanges(t *testing.T) {
	p := netip.MustParsePrefix
	protected := []netip.Prefix{p("192.0.2.1/32"), p("10.9.9.9/32"), p("192.168.1.0/24")}
	for _, tc := range []struct {
		name     string
		clusters []Cluster
		accepted []string // IDs
		refused  []string // "ID: reason substring"
	}{
		{"default range", []Cluster{{ID: "a", Via: "a", IPv4Range: p("100.64.0.0/10")}}, []string{"a"}, nil},
		{"each private block", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("10.0.0.0/16")},
			{ID: "b", Via: "b", IPv4Range: p("172.16.0.0/12")},
			{ID: "c", Via: "c", IPv4Range: p("192.168.77.0/24")},
			{ID: "d", Via: "d", IPv4Range: p("198.19.0.0/16")},
		}, []string{"a", "b", "c", "d"}, nil},
		{"public space", []Cluster{{ID: "a", Via: "a", IPv4Range: p("8.8.8.0/24")}}, nil, []string{"a: not inside"}},
		{"wider than a private block", []Cluster{{ID: "a", Via: "a", IPv4Range: p("100.0.0.0/8")}}, nil, []string{"a: not inside"}},
		{"test net of the upstream", []Cluster{{ID: "a", Via: "a", IPv4Range: p("192.0.2.0/24")}}, nil, []string{"a: not inside"}},
		{"covers a resolver", []Cluster{{ID: "a", Via: "a", IPv4Range: p("10.9.0.0/16")}}, nil, []string{"a: covers 10.9.9.9/32"}},
		{"overlaps a local network", []Cluster{{ID: "a", Via: "a", IPv4Range: p("192.168.0.0/16")}}, nil, []string{"a: covers 192.168.1.0/24"}},
		{"another profile, equal", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("100.64.0.0/10")},
			{ID: "b", Via: "b", IPv4Range: p("100.64.0.0/10")},
		}, []string{"a"}, []string{"b: overlaps 100.64.0.0/10"}},
		{"another profile, nested", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("100.64.0.0/10")},
			{ID: "b", Via: "b", IPv4Range: p("100.80.0.0/16")},
		}, []string{"a"}, []string{"b: overlaps"}},
		{"a refused range holds nothing", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("10.9.0.0/16")},
			{ID: "b", Via: "b", IPv4Range: p("10.9.0.0/16")},
		}, nil, []string{"a: covers", "b: covers"}},
		{"one profile shares and nests", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("100.64.0.0/10")},
			{ID: "a/l1", Via: "a", IPv4Range: p("100.64.0.0/10")},
			{ID: "a/l2", Via: "a", IPv4Range: p("100.70.0.0/16")},
		}, []string{"a", "a/l1", "a/l2"}, nil},
		{"a leaf of another profile", []Cluster{
			{ID: "a", Via: "a", IPv4Range: p("100.64.0.0/10")},
			{ID: "b", Via: "b", IPv4Range: p("10.1.0.0/16")},
			{ID: "b/l", Via: "b", IPv4Range: p("100.70.0.0/16")},
		}, []string{"a", "b"}, []string{"b/l: overlaps 100.64.0.0/10 of cluster"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSnapshot(tc.clusters)
			acc, ref := s.AcceptRanges(protected)
			var ids []string
			for _, c := range s.Clusters {
				if _, ok := acc[c.ID]; ok {
					ids = append(ids, c.ID)
				}
			}
			if !slices.Equal(ids, tc.accepted) {
				t.Errorf("accepted %v, want %v", ids, tc.accepted)
			}
			if len(ref) != len(tc.refused) {
				t.Fatalf("refused %+v, want %v", ref, tc.refused)
			}
			for i, r := range ref {
				id, why, _ := strings.Cut(tc.refused[i], ": ")
				if r.Cluster != id || r.Kind != KindRange || !strings.Contains(r.Reason, why) {
					t.Errorf("refusal %d = %+v, want %s", i, r, tc.refused[i])
				}
			}
		})
	}
}

// TestNamesHeldByEarlierCluster: apps of a later cluster at an address
// an earlier cluster's domain holds get no name, two of them at one such
// address are ambiguous as within any cluster, and the earlier cluster's
// app keeps the name.
func TestNamesHeldByEarlierCluster(t *testing.T) {
	first := root("a:3080", "a", "proxy.a.test", []string{"company.test"}, App{Name: "x", PublicAddr: "x.company.test"})
	second := root("b:3080", "b", "proxy.b.test", nil,
		App{Name: "p", PublicAddr: "x.company.test"},
		App{Name: "q", PublicAddr: "x.company.test"},
		App{Name: "r", PublicAddr: "y.company.test"},
		App{Name: "s"})
	s := NewSnapshot([]Cluster{first, second})
	for _, tc := range []struct{ cluster, app, unnamed string }{
		{"a:3080", "x", ""},
		{"b:3080", "p", "ambiguous"},
		{"b:3080", "q", "ambiguous"},
		{"b:3080", "r", "belongs to cluster a"},
		{"b:3080", "s", ""},
	} {
		a, _ := s.App(tc.cluster, tc.app)
		if (tc.unnamed == "") != (a.Unnamed == "") || !strings.Contains(a.Unnamed, tc.unnamed) {
			t.Errorf("app %s of %s: %q, want %q", tc.app, tc.cluster, a.Unnamed, tc.unnamed)
		}
	}
	if m, ok := s.Lookup("x.company.test"); !ok || m.Cluster.ID != "a:3080" || m.App.Name != "x" {
		t.Errorf("x.company.test: %+v, %v; want x of a", m, ok)
	}
	if m, ok := s.Lookup("s.proxy.b.test"); !ok || m.App.Name != "s" {
		t.Errorf("s.proxy.b.test: %+v, %v", m, ok)
	}
}
