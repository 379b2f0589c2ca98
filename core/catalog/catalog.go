// Package catalog knows what every logged-in cluster offers VNet: its apps,
// its DNS zones and its address range. It answers "which app is this name?"
// and "which domains must VNet capture?".
package catalog

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vnetproject/vnet/core/cluster/resource"
)

// App is a TCP app reachable through a cluster.
type App struct {
	Name       string
	PublicAddr string // lower-case, no trailing dot; may be empty
	Labels     map[string]string
	TCPPorts   []resource.PortRange // empty: every port
}

// AllowsPort reports whether the app takes connections on port.
func (a *App) AllowsPort(port uint16) bool { return resource.PortsAllow(a.TCPPorts, port) }

// Cluster is what one cluster offers.
type Cluster struct {
	Name string // the cluster's own name
	// Via is the logged-in cluster whose proxy reaches this one: Name
	// itself for a root cluster, the root for a leaf.
	Via       string
	ProxyHost string // host of the proxy's public address, lower-case
	IPv4Range netip.Prefix
	Zones     []string // custom DNS zones, lower-case, no trailing dot
	Apps      []App
	Refused   []string // a leaf's claims its root dropped, one line each
}

// Snapshot is the catalog at one moment. It is never modified once built,
// so readers need no lock.
type Snapshot struct {
	Clusters []Cluster // in profile order; the first is the "root" whose range the TUN uses
}

// Match is an app found by name.
type Match struct {
	Cluster *Cluster
	App     *App
	Zone    string // the most specific captured domain holding the name
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

// Captured reports whether c's DNS domains (the proxy's host and every
// custom zone) contain name.
func (c *Cluster) Captured(name string) bool { return c.Domain(name) != "" }

// Domain is the most specific of c's DNS domains that contains name, or ""
// if none does.
func (c *Cluster) Domain(name string) string {
	best := ""
	for _, d := range append([]string{c.ProxyHost}, c.Zones...) {
		if d != "" && InDomain(name, d) && len(d) > len(best) {
			best = d
		}
	}
	return best
}

// Captures reports whether any cluster's domains contain name.
func (s *Snapshot) Captures(name string) bool {
	name = Normalize(name)
	for i := range s.Clusters {
		if s.Clusters[i].Captured(name) {
			return true
		}
	}
	return false
}

// Lookup finds the app whose public address is name. A name belongs to
// one cluster only: the one whose captured domain holding it is the most
// specific; on equal domains, the first in profile order (see Overlaps).
// A proxy's own address is never an app: login must keep working through
// the OS resolver.
func (s *Snapshot) Lookup(name string) (Match, bool) {
	name = Normalize(name)
	for i := range s.Clusters {
		if s.Clusters[i].ProxyHost == name {
			return Match{}, false
		}
	}
	c, zone := s.owner(name)
	if c == nil {
		return Match{}, false
	}
	for j := range c.Apps {
		if c.Apps[j].PublicAddr == name {
			return Match{Cluster: c, App: &c.Apps[j], Zone: zone}, true
		}
	}
	return Match{}, false
}

// owner is the cluster a captured name belongs to, and the domain that
// captures it there.
func (s *Snapshot) owner(name string) (*Cluster, string) {
	var best *Cluster
	zone := ""
	for i := range s.Clusters {
		if d := s.Clusters[i].Domain(name); len(d) > len(zone) {
			best, zone = &s.Clusters[i], d
		}
	}
	return best, zone
}

// Overlaps describes every domain that more than one cluster captures, or
// that lies inside another cluster's domain, and which cluster gets its
// names, so that `vnet status` can show it: overlaps are resolved by rule,
// never silently.
func (s *Snapshot) Overlaps() []string {
	type claim struct{ domain, cluster string }
	var claims []claim
	for _, c := range s.Clusters {
		for _, d := range append([]string{c.ProxyHost}, c.Zones...) {
			if d != "" {
				claims = append(claims, claim{d, c.Name})
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	note := func(msg string) {
		if !seen[msg] {
			seen[msg] = true
			out = append(out, msg)
		}
	}
	for i, a := range claims {
		for _, b := range claims[i+1:] {
			switch {
			case a.cluster == b.cluster:
			case a.domain == b.domain:
				note(fmt.Sprintf("domain %s is captured by clusters %s and %s: its names go to %s (first profile)", a.domain, a.cluster, b.cluster, a.cluster))
			case InDomain(a.domain, b.domain):
				note(fmt.Sprintf("domain %s of cluster %s lies inside %s of cluster %s: names under %s go to %s (most specific)", a.domain, a.cluster, b.domain, b.cluster, a.domain, a.cluster))
			case InDomain(b.domain, a.domain):
				note(fmt.Sprintf("domain %s of cluster %s lies inside %s of cluster %s: names under %s go to %s (most specific)", b.domain, b.cluster, a.domain, a.cluster, b.domain, b.cluster))
			}
		}
	}
	return out
}

// Domains lists every domain VNet must capture, without duplicates, in a
// stable order.
func (s *Snapshot) Domains() []string {
	var out []string
	seen := map[string]bool{}
	add := func(d string) {
		if d != "" && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, c := range s.Clusters {
		add(c.ProxyHost)
		for _, z := range c.Zones {
			add(z)
		}
	}
	return out
}

// Ranges lists every cluster's IPv4 range, without duplicates.
func (s *Snapshot) Ranges() []netip.Prefix {
	var out []netip.Prefix
	seen := map[netip.Prefix]bool{}
	for _, c := range s.Clusters {
		if c.IPv4Range.IsValid() && !seen[c.IPv4Range] {
			seen[c.IPv4Range] = true
			out = append(out, c.IPv4Range)
		}
	}
	return out
}

// Cluster returns the cluster called name.
func (s *Snapshot) Cluster(name string) (*Cluster, bool) {
	for i := range s.Clusters {
		if s.Clusters[i].Name == name {
			return &s.Clusters[i], true
		}
	}
	return nil, false
}

// App returns the app called name in cluster.
func (s *Snapshot) App(cluster, name string) (*App, bool) {
	c, ok := s.Cluster(cluster)
	if !ok {
		return nil, false
	}
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i], true
		}
	}
	return nil, false
}
