// Package catalog knows what every logged-in cluster offers VNet: its apps,
// its DNS zones and its address range. It decides which cluster owns which
// name (the first one, in login order), refuses what a cluster may not
// claim, and answers "which app is this name?" and "which domains must VNet
// capture?".
package catalog

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/vnetproject/vnet/core/portrange"
)

// App is a TCP app reachable through a cluster.
type App struct {
	Name       string
	PublicAddr string // as the cluster sent it: lower-case, no trailing dot; may be empty
	Labels     map[string]string
	TCPPorts   []portrange.Range // empty: every port

	// Set by NewSnapshot.

	// Addr is the app's effective address: PublicAddr, or
	// <lower-cased name>.<proxy host> when PublicAddr is empty. Empty when
	// the app can have no name at all (see Unnamed).
	Addr string
	// Unnamed is why the app cannot be reached by name, in one line; ""
	// when its Addr resolves to it.
	Unnamed string
}

// AllowsPort reports whether the app takes connections on port.
func (a *App) AllowsPort(port uint16) bool { return portrange.Allow(a.TCPPorts, port) }

// Cluster is what one cluster offers.
type Cluster struct {
	// ID is who the cluster is on this laptop, never the name it reports:
	// the profile's proxy address for a root, "<root ID>/<leaf name>" for
	// a leaf. Set by the catalog (Identify), not by the cluster.
	ID   string
	Name string // the name the cluster reports; routes a dial to a leaf
	// Via is the ID of the logged-in cluster (the profile) whose proxy
	// reaches this one: ID itself for a root.
	Via       string
	ProxyHost string // host of the proxy's public address, lower-case
	IPv4Range netip.Prefix
	Zones     []string // custom DNS zones, lower-case, no trailing dot
	Apps      []App
	// Refused are the claims of this (leaf) cluster that its root refused,
	// one line each, as the root sent them.
	Refused []string
	// LeavesPending (a root's) says some of its leaves have not answered
	// yet: their catalogs may follow. For a caller that wants one whole
	// offer (vnet apps); VNet serves what it has.
	LeavesPending bool
	// Revision (a root's) is the store revision of the catalog the
	// proxy sent last (api.CatalogUpdate.revision); 0 from a proxy that
	// sends no revisions.
	Revision int64
	// StoreUnavailable (a root's) is set while the cluster's store cannot
	// answer: the apps are what its proxy knew. `vnet status` shows the
	// cluster as degraded.
	StoreUnavailable string

	// Domains are the proxy host and zones the laptop accepted for this
	// cluster; set by NewSnapshot.
	Domains []string

	// named says Apps' Addr and Unnamed are effectiveAddr's for
	// ProxyHost (a delta view's offer), nothing more: NewSnapshot then
	// shares Apps unless some name is contested, instead of copying
	// 100,000 apps per change.
	named bool
}

// IsLeaf reports whether the cluster is reached through another one.
func (c *Cluster) IsLeaf() bool { return c.ID != c.Via }

// Snapshot is the catalog at one moment, checked: who owns which domain
// and name is decided when it is built (NewSnapshot). It is never modified
// once built, so readers need no lock.
type Snapshot struct {
	// Clusters in login order (each profile's root, then its leaves).
	Clusters []Cluster
	// Refused is every claim the laptop refused, and every claim the
	// clusters' roots refused, in cluster order.
	Refused []Refusal
	// proxies are every proxy host (clusters' and logins'): never apps.
	proxies map[string]bool
	// names finds the app holding an address, apps an app by cluster and
	// name: a lookup costs the same with a hundred thousand apps as with
	// one. Built by NewSnapshot.
	names  map[string]appIndex
	apps   map[appName]appIndex // of clusters whose apps are not in name order
	sorted []bool               // by cluster: its apps are in name order
}

// appIndex is where an app sits: Clusters[cluster].Apps[app].
type appIndex struct{ cluster, app int }

// appName is an app by its cluster's ID and its name.
type appName struct{ clusterID, name string }

// Match is an app found by name.
type Match struct {
	Cluster *Cluster
	App     *App
	Zone    string // the owner's most specific domain holding the name
}

// Normalize lower-cases a DNS name and strips its trailing dot.
func Normalize(name string) string {
	return strings.TrimSuffix(strings.ToLower(name), ".")
}

// InDomain reports whether name is domain or below it at any depth. Both
// must be normalised. "evilcompany.test" is not in "company.test".
func InDomain(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// Captured reports whether c's accepted domains contain name.
func (c *Cluster) Captured(name string) bool { return c.domainOf(name) != "" }

// domainOf is the most specific of c's accepted domains that contains
// name, or "" if none does.
func (c *Cluster) domainOf(name string) string {
	best := ""
	for _, d := range c.Domains {
		if InDomain(name, d) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// Captures reports whether any cluster's accepted domains contain name.
func (s *Snapshot) Captures(name string) bool {
	_, zone := s.owner(Normalize(name))
	return zone != ""
}

// Lookup finds the app whose address is name. A name belongs to the first
// cluster (in login order) whose accepted domains contain it, and to the
// app there that holds it alone. A proxy's own address is never an app:
// login must keep working through the OS resolver.
func (s *Snapshot) Lookup(name string) (Match, bool) {
	name = Normalize(name)
	if s.proxies[name] {
		return Match{}, false
	}
	c, zone := s.owner(name)
	if c == nil {
		return Match{}, false
	}
	// An app named holds its address alone and inside its own cluster's
	// domains (nameApps), so the owner found is its cluster.
	at, ok := s.names[name]
	if !ok || &s.Clusters[at.cluster] != c {
		return Match{}, false
	}
	return Match{Cluster: c, App: &c.Apps[at.app], Zone: zone}, true
}

// owner is the cluster a captured name belongs to, and the domain that
// captures it there: the first cluster whose accepted domains contain it.
func (s *Snapshot) owner(name string) (*Cluster, string) {
	for i := range s.Clusters {
		if d := s.Clusters[i].domainOf(name); d != "" {
			return &s.Clusters[i], d
		}
	}
	return nil, ""
}

// Domains lists every accepted domain VNet must capture, without
// duplicates, in cluster order.
func (s *Snapshot) Domains() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range s.Clusters {
		for _, d := range c.Domains {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// Cluster returns the cluster whose ID is id.
func (s *Snapshot) Cluster(id string) (*Cluster, bool) {
	for i := range s.Clusters {
		if s.Clusters[i].ID == id {
			return &s.Clusters[i], true
		}
	}
	return nil, false
}

// App returns the app called name in the cluster whose ID is clusterID.
func (s *Snapshot) App(clusterID, name string) (*App, bool) {
	for i := range s.Clusters {
		if c := &s.Clusters[i]; c.ID == clusterID && i < len(s.sorted) && s.sorted[i] {
			j, ok := slices.BinarySearchFunc(c.Apps, name, byName)
			if !ok {
				return nil, false
			}
			return &c.Apps[j], true
		}
	}
	at, ok := s.apps[appName{clusterID, name}]
	if !ok {
		return nil, false
	}
	return &s.Clusters[at.cluster].Apps[at.app], true
}
