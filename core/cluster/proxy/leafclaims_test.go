package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// testRoot is the root of the claims tests: proxy.root.test, zone
// company.test, range 100.64.0.0/16, an app at tcp-app.company.test, one
// at db.elsewhere.test (an explicit address outside the root's domains)
// and web at its default address web.proxy.root.test.
func testRoot() *claims {
	cfg := resource.DefaultVNetConfig()
	cfg.Spec.IPv4CIDRRange = "100.64.0.0/16"
	cfg.Spec.CustomDNSZones = []resource.DNSZone{{Suffix: "company.test"}}
	apps := []*resource.App{
		resource.NewApp("tcp-app", "tcp://h:1", "tcp-app.company.test", nil),
		resource.NewApp("db", "tcp://h:2", "db.elsewhere.test", nil),
		resource.NewApp("web", "tcp://h:3", "", nil),
	}
	return newClaims("root.test", "proxy.root.test:3080", cfg, apps)
}

// claimant is a leaf and the catalog it sends.
type claimant struct {
	leaf  auth.Leaf
	proxy string // its proxy's public address
	rng   string
	zones []string
	apps  []*api.App // name and public_addr
}

func (c claimant) catalog() *api.LeafCatalog {
	return &api.LeafCatalog{
		Config: &api.VNetConfig{Ipv4CidrRange: c.rng, CustomDnsZones: c.zones},
		Apps:   &api.ListAppsResponse{ClusterName: c.leaf.Name, ProxyPublicAddr: c.proxy, Apps: c.apps},
	}
}

func leaf(name string, rng string, zones ...string) auth.Leaf {
	return auth.Leaf{Name: name, Joined: time.Now(), Grants: resource.LeafGrants{Zones: zones, IPv4CIDRRange: rng}}
}

func app(name, publicAddr string) *api.App { return &api.App{Name: name, PublicAddr: publicAddr} }

// TestLeafClaims: what the root lets through of a leaf's catalog, and the
// one line for each claim it drops. Each case admits the earlier leaves
// first and checks the last one.
func TestLeafClaims(t *testing.T) {
	leafA := leaf("a.test", "100.70.0.0/16", "leafcorp.test", "shared.test")
	first := claimant{leaf: leafA, proxy: "proxy.a.test:3080", rng: "100.70.0.0/16", zones: []string{"leafcorp.test", "shared.test"},
		apps: []*api.App{app("db", "db.leafcorp.test")}}
	tests := []struct {
		name     string
		away     []auth.Leaf // joined first, not connected
		earlier  []claimant
		last     claimant
		rootRng  string   // the root's range, if not 100.64.0.0/16 (changed after the grant)
		zones    []string // kept
		rng      string   // sent
		proxy    string   // sent
		apps     []string // kept
		proxyRef bool
		refused  []string // each line contains this, in order
	}{
		{
			name:  "granted zone and range, default and zone addresses",
			last:  first,
			zones: []string{"leafcorp.test", "shared.test"}, rng: "100.70.0.0/16", proxy: "proxy.a.test:3080",
			apps: []string{"db"},
		},
		{
			name: "the leaf's own proxy domain needs no grant",
			last: claimant{leaf: leaf("b.test", ""), proxy: "Proxy.B.test:3080", apps: []*api.App{app("Web", ""), app("api", "api.proxy.b.test")}},
			rng:  "100.64.0.0/16", proxy: "Proxy.B.test:3080",
			apps: []string{"Web", "api"},
		},
		{
			name: "the root's zone, inside it, around the root's proxy host, and an ungranted zone",
			last: claimant{leaf: leaf("b.test", "", "company.test", "x.company.test", "root.test"), proxy: "proxy.b.test:3080",
				zones: []string{"company.test", "X.Company.Test.", "root.test", "outside.test"}},
			rng: "100.64.0.0/16", proxy: "proxy.b.test:3080",
			refused: []string{
				"zone company.test: is company.test, a domain of the root cluster root.test",
				"zone x.company.test: lies in company.test, a domain of the root cluster root.test",
				"zone root.test: contains proxy.root.test, a domain of the root cluster root.test",
				"zone outside.test: not granted by root.test",
			},
		},
		{
			name: "a zone inside a granted zone",
			last: claimant{leaf: leaf("b.test", "", "b-corp.test"), proxy: "proxy.b.test:3080", zones: []string{"eu.b-corp.test"},
				apps: []*api.App{app("x", "x.eu.b-corp.test")}},
			zones: []string{"eu.b-corp.test"}, rng: "100.64.0.0/16", proxy: "proxy.b.test:3080", apps: []string{"x"},
		},
		{
			name: "apps at a root app's address, inside a root domain, and outside the leaf's domains",
			last: claimant{leaf: leaf("b.test", "", "elsewhere.test"), proxy: "proxy.b.test:3080", zones: []string{"elsewhere.test"},
				apps: []*api.App{app("fake", "TCP-APP.company.test"), app("db", "db.elsewhere.test"), app("web2", "web2.proxy.root.test"),
					app("stray", "stray.nowhere.test"), app("ok", "ok.elsewhere.test")}},
			zones: []string{"elsewhere.test"}, rng: "100.64.0.0/16", proxy: "proxy.b.test:3080", apps: []string{"ok"},
			refused: []string{
				"app fake: address tcp-app.company.test is the address of an app of the root cluster root.test",
				"app db: address db.elsewhere.test is the address of an app of the root cluster root.test",
				"app web2: address web2.proxy.root.test lies in proxy.root.test, a domain of the root cluster root.test",
				"app stray: address stray.nowhere.test lies outside the leaf's domains",
			},
		},
		{
			name: "a proxy host inside a root domain: its default addresses go with it",
			last: claimant{leaf: leaf("b.test", "", "b-corp.test"), proxy: "proxy.company.test:3080", zones: []string{"b-corp.test"},
				apps: []*api.App{app("web", ""), app("x", "x.b-corp.test")}},
			zones: []string{"b-corp.test"}, rng: "100.64.0.0/16", proxy: "", apps: []string{"x"},
			refused: []string{"proxy host proxy.company.test: lies in company.test, a domain of the root cluster root.test: its apps without a public_addr are left out"},
		},
		{
			name: "a range without a grant",
			last: claimant{leaf: leaf("b.test", ""), proxy: "proxy.b.test:3080", rng: "100.90.0.0/16"},
			rng:  "100.64.0.0/16", proxy: "proxy.b.test:3080",
			refused: []string{"range 100.90.0.0/16: not granted by root.test: its apps take addresses from the root's range 100.64.0.0/16"},
		},
		{
			name: "a range other than the granted one",
			last: claimant{leaf: leaf("b.test", "100.71.0.0/16"), proxy: "proxy.b.test:3080", rng: "100.72.0.0/16"},
			rng:  "100.64.0.0/16", proxy: "proxy.b.test:3080",
			refused: []string{"range 100.72.0.0/16: not granted by root.test (it granted 100.71.0.0/16): its apps take addresses from the root's range 100.64.0.0/16"},
		},
		{
			name:    "a part of the granted range, and the root's range without a grant",
			earlier: []claimant{{leaf: leaf("c.test", ""), proxy: "proxy.c.test:1", rng: "100.64.0.0/16"}},
			last:    claimant{leaf: leaf("b.test", "100.71.0.0/16"), proxy: "proxy.b.test:3080", rng: "100.71.4.0/24"},
			rng:     "100.71.4.0/24", proxy: "proxy.b.test:3080",
		},
		{
			name:    "a granted range that the root's range grew into",
			last:    claimant{leaf: leaf("b.test", "100.70.0.0/16"), proxy: "proxy.b.test:3080", rng: "100.70.0.0/16"},
			rootRng: "100.64.0.0/10",
			rng:     "100.64.0.0/10", proxy: "proxy.b.test:3080",
			refused: []string{"range 100.70.0.0/16: overlaps the root's range 100.64.0.0/10"},
		},
		{
			name:    "what a leaf that joined first holds",
			earlier: []claimant{first},
			last: claimant{leaf: leaf("b.test", "100.70.0.0/16", "shared.test", "proxy.a.test", "b-corp.test"), proxy: "proxy.a.test:3081", rng: "100.70.128.0/17",
				zones: []string{"shared.test", "b-corp.test"}, apps: []*api.App{app("db", "db.leafcorp.test"), app("x", "x.b-corp.test"), app("y", "db.b-corp.test")}},
			zones: []string{"b-corp.test"}, rng: "100.64.0.0/16", proxy: "", apps: []string{"x", "y"},
			refused: []string{
				"proxy host proxy.a.test: is proxy.a.test, a domain of leaf cluster a.test (joined first)",
				"zone shared.test: is shared.test, a domain of leaf cluster a.test (joined first)",
				"range 100.70.128.0/17: overlaps 100.70.0.0/16, the range of leaf cluster a.test (joined first)",
				"app db: address db.leafcorp.test is already the address of another app of leaf cluster a.test",
			},
		},
		{
			name: "what a leaf that joined first was granted, while it is away",
			away: []auth.Leaf{leafA},
			last: claimant{leaf: leaf("b.test", "100.70.0.0/16", "shared.test", "b-corp.test"), proxy: "proxy.b.test:3080", rng: "100.70.0.0/16",
				zones: []string{"shared.test", "b-corp.test"}},
			zones: []string{"b-corp.test"}, rng: "100.64.0.0/16", proxy: "proxy.b.test:3080",
			refused: []string{
				"zone shared.test: is shared.test, a domain of leaf cluster a.test (joined first)",
				"range 100.70.0.0/16: overlaps 100.70.0.0/16, the range of leaf cluster a.test (joined first)",
			},
		},
		{
			name: "two apps of one leaf at one address",
			last: claimant{leaf: leaf("b.test", ""), proxy: "proxy.b.test:3080", apps: []*api.App{app("web", ""), app("other", "web.proxy.b.test")}},
			rng:  "100.64.0.0/16", proxy: "proxy.b.test:3080", apps: []string{"web"},
			refused: []string{"app other: address web.proxy.b.test is already the address of another app of leaf cluster b.test"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testRoot()
			if tt.rootRng != "" {
				c.rootRange = netip.MustParsePrefix(tt.rootRng)
			}
			for _, l := range tt.away {
				c.reserve(l)
			}
			for _, e := range tt.earlier {
				if refused := c.admit(e.leaf, e.catalog()); len(refused) != 0 {
					t.Fatalf("earlier leaf %s refused: %q", e.leaf.Name, refused)
				}
			}
			cat := tt.last.catalog()
			refused := c.admit(tt.last.leaf, cat)
			if got := cat.GetConfig().GetCustomDnsZones(); !slices.Equal(got, tt.zones) {
				t.Errorf("zones = %q, want %q", got, tt.zones)
			}
			if got := cat.GetConfig().GetIpv4CidrRange(); got != tt.rng {
				t.Errorf("range = %q, want %q", got, tt.rng)
			}
			if got := cat.GetApps().GetProxyPublicAddr(); got != tt.proxy {
				t.Errorf("proxy = %q, want %q", got, tt.proxy)
			}
			var apps []string
			for _, a := range cat.GetApps().GetApps() {
				apps = append(apps, a.GetName())
			}
			if !slices.Equal(apps, tt.apps) {
				t.Errorf("apps = %q, want %q", apps, tt.apps)
			}
			if len(refused) != len(tt.refused) {
				t.Fatalf("refused:\n  %s\nwant:\n  %s", strings.Join(refused, "\n  "), strings.Join(tt.refused, "\n  "))
			}
			for i, want := range tt.refused {
				if !strings.Contains(refused[i], want) {
					t.Errorf("refused[%d] = %q, want it to contain %q", i, refused[i], want)
				}
				if strings.Contains(refused[i], "\n") {
					t.Errorf("refused[%d] is not one line: %q", i, refused[i])
				}
			}
		})
	}
}

// TestCheckGrantedRange: what the root's admin may grant a leaf.
func TestCheckGrantedRange(t *testing.T) {
	root := netip.MustParsePrefix("100.64.0.0/16")
	others := []auth.Leaf{leaf("a.test", "100.70.0.0/16"), leaf("b.test", "100.64.0.0/16"), leaf("c.test", "")}
	tests := []struct {
		grant, leaf, wantErr string
	}{
		{"", "x.test", ""},
		{"100.71.0.0/16", "x.test", ""},
		{"100.64.0.0/16", "x.test", ""}, // the root's own: the default anyway
		{"100.64.0.0/10", "x.test", "overlaps this cluster's range 100.64.0.0/16"},
		{"100.64.3.0/24", "x.test", "overlaps this cluster's range"},
		{"100.70.0.0/15", "x.test", "overlaps 100.70.0.0/16, granted to leaf cluster a.test"},
		{"100.70.0.0/16", "", "granted to leaf cluster a.test"}, // a token's
		{"100.70.0.0/16", "a.test", ""},                         // its own grant again
	}
	for _, tt := range tests {
		err := checkGrantedRange(tt.grant, tt.leaf, root, others)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("grant %q to %q: %v, want %q", tt.grant, tt.leaf, err, tt.wantErr)
		}
	}
}

// recordingAudit keeps emitted events.
type recordingAudit struct {
	mu  sync.Mutex
	evs []audit.Event
}

func (r *recordingAudit) Emit(ev audit.Event) { r.mu.Lock(); r.evs = append(r.evs, ev); r.mu.Unlock() }

func (r *recordingAudit) Search(context.Context, audit.Query) ([]audit.Event, error) { return nil, nil }

// TestRefusalsAuditedOnce: a refusal seen at every catalog pass is audited
// once, shown while recent, and a leaf inventing ever new claims fills at
// most maxRefusals.
func TestRefusalsAuditedOnce(t *testing.T) {
	rec := &recordingAudit{}
	log := slog.New(slog.DiscardHandler)
	s := &leaves{log: log, audit: &auditor{log: log, sink: rec}}
	for range 3 {
		s.noteRefused("leaf.test", []string{"zone a.test: not granted by root.test", "zone b.test: not granted by root.test"})
	}
	s.noteRefused("other.test", []string{"zone a.test: not granted by root.test"})
	if len(rec.evs) != 3 {
		t.Fatalf("%d events, want 3 (one per leaf and line): %+v", len(rec.evs), rec.evs)
	}
	if ev := rec.evs[0]; ev.Type != audit.LeafClaimRefused || ev.Cluster != "leaf.test" || ev.User != "leaf:leaf.test" || ev.Error != "zone a.test: not granted by root.test" {
		t.Errorf("event %+v", ev)
	}
	if got := s.recentRefused("leaf.test"); len(got) != 2 {
		t.Errorf("recentRefused = %q, want both lines", got)
	}
	s.refused["leaf.test"]["zone a.test: not granted by root.test"] = time.Now().Add(-refusalMemory - time.Second)
	if got := s.recentRefused("leaf.test"); len(got) != 1 {
		t.Errorf("recentRefused = %q, want only the line seen lately", got)
	}
	s.noteRefused("leaf.test", []string{"zone a.test: not granted by root.test"})
	if len(rec.evs) != 4 {
		t.Errorf("a refusal forgotten after refusalMemory is audited again: %d events, want 4", len(rec.evs))
	}
	many := make([]string, 2*maxRefusals)
	for i := range many {
		many[i] = fmt.Sprintf("app a%d: address a%d.x.test lies outside the leaf's domains", i, i)
	}
	s.noteRefused("flood.test", many)
	if n := len(s.refused["flood.test"]); n != maxRefusals {
		t.Errorf("%d refusals remembered, want at most %d", n, maxRefusals)
	}
}
