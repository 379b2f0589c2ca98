package catalog

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// NewSnapshot checks clusters (in login order: each profile's root, then
// its leaves, IDs set by Identify) and decides who owns what. The first
// owner wins:
//
//   - a proxy domain or zone that is not a real domain below a public
//     suffix is refused (CheckZone);
//   - a domain equal to or inside an accepted domain of an earlier cluster
//     is refused: earlier clusters are those of profiles logged in to
//     first, or the cluster's own root (or an earlier leaf of it);
//   - a name belongs to the earliest cluster whose accepted domains
//     contain it; an app of another cluster at that name gets none;
//   - two apps of one cluster at the same address both get none
//     (ambiguous), and a proxy's own host is never an app.
//
// Refused claims are listed in Snapshot.Refused; the rest works. Ranges are
// checked separately (AcceptRanges): they depend on the host.
func NewSnapshot(clusters []Cluster) *Snapshot {
	s := &Snapshot{proxies: map[string]bool{}}
	ids := map[string]bool{}
	for _, c := range clusters {
		if ids[c.ID] {
			s.Refused = append(s.Refused, refusal(&c, KindCluster, c.Name, c.ID, "reported twice by its root: the first is kept"))
			continue
		}
		ids[c.ID] = true
		c.Domains = nil
		s.Clusters = append(s.Clusters, c)
		if c.ProxyHost != "" {
			s.proxies[c.ProxyHost] = true
		}
		if !c.IsLeaf() {
			// The address this laptop dials is never an app either.
			if host, _, err := net.SplitHostPort(c.ID); err == nil {
				s.proxies[Normalize(host)] = true
			}
		}
	}
	for i := range s.Clusters {
		s.acceptDomains(i)
	}
	n := 0
	for i := range s.Clusters {
		n += len(s.Clusters[i].Apps)
	}
	s.names = make(map[string]appIndex, n)
	for i := range s.Clusters {
		s.nameApps(i)
	}
	s.index()
	return s
}

// index fills apps. The first app of a name in a cluster is the one App
// finds, as a scan would. Apps in name order (a delta view's) are found
// by a binary search, not kept in apps.
func (s *Snapshot) index() {
	s.apps = map[appName]appIndex{}
	s.sorted = make([]bool, len(s.Clusters))
	for i := range s.Clusters {
		c := &s.Clusters[i]
		s.sorted[i] = slices.IsSortedFunc(c.Apps, func(a, b App) int { return strings.Compare(a.Name, b.Name) })
		if s.sorted[i] {
			continue
		}
		for j := range c.Apps {
			if k := (appName{c.ID, c.Apps[j].Name}); !hasKey(s.apps, k) {
				s.apps[k] = appIndex{i, j}
			}
		}
	}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool {
	_, ok := m[k]
	return ok
}

// acceptDomains decides which of cluster i's proxy host and zones it owns,
// given the clusters before it.
func (s *Snapshot) acceptDomains(i int) {
	c := &s.Clusters[i]
	for _, r := range c.Refused {
		s.Refused = append(s.Refused, refusal(c, KindRoot, r, "", r))
	}
	seen := map[string]bool{}
	for _, d := range append([]string{c.ProxyHost}, c.Zones...) {
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		if _, err := netip.ParseAddr(d); err == nil && d == c.ProxyHost {
			// A proxy at an IP address has no domain to claim: its
			// apps need a public_addr (EffectiveAddr says so).
			continue
		}
		if why := CheckZone(d); why != "" {
			s.Refused = append(s.Refused, refusal(c, KindZone, d, "", why))
			continue
		}
		if holder, in := s.heldBefore(i, d); holder != nil {
			s.Refused = append(s.Refused, refusal(c, KindZone, d, holder.ID,
				fmt.Sprintf("inside %s of cluster %s (%s), which was there first", in, holder.Name, holder.ID)))
			continue
		}
		c.Domains = append(c.Domains, d)
	}
}

// heldBefore is the first cluster before i with an accepted domain that
// contains d, and that domain.
func (s *Snapshot) heldBefore(i int, d string) (*Cluster, string) {
	for j := range s.Clusters[:i] {
		if in := s.Clusters[j].domainOf(d); in != "" {
			return &s.Clusters[j], in
		}
	}
	return nil, ""
}

// nameApps gives cluster i's apps their effective addresses, says why
// those without a usable one have none, and enters the others in names
// (the index by address: built as it goes, it also finds two apps of the
// cluster at one address). It writes into a copy of the apps, made only
// when something is to be written: the apps of a delta view's offer come
// named (Cluster.named) and are shared with it as they are unless
// another cluster or app contests a name.
func (s *Snapshot) nameApps(i int) {
	c := &s.Clusters[i]
	copied := false
	own := func() {
		if !copied {
			c.Apps, copied, c.named = slices.Clone(c.Apps), true, false
		}
	}
	if !c.named {
		own()
		hostIsName := proxyHostName(c.ProxyHost)
		for j := range c.Apps {
			a := &c.Apps[j]
			a.Addr, a.Unnamed = effectiveAddr(a, c.ProxyHost, hostIsName)
		}
	}
	// Each address's first app of c goes in names for now; an address
	// already there is either an earlier cluster's (whose domain holds
	// it: this app's name is contested below) or held twice in c.
	var twice map[string]bool
	var elsewhere map[string]bool // addresses of c's apps held by earlier clusters
	for j := range c.Apps {
		a := &c.Apps[j]
		if a.Addr == "" || a.Unnamed != "" {
			continue
		}
		at, ok := s.names[a.Addr]
		switch {
		case !ok:
			s.names[a.Addr] = appIndex{i, j}
			continue
		case at.cluster != i && !elsewhere[a.Addr]:
			if elsewhere == nil {
				elsewhere = map[string]bool{}
			}
			elsewhere[a.Addr] = true
			continue
		}
		if twice == nil {
			twice = map[string]bool{}
		}
		twice[a.Addr] = true
	}
	shared := map[string][]string{} // address -> app names in c, when more than one
	for j := range c.Apps {
		if a := &c.Apps[j]; twice[a.Addr] && a.Unnamed == "" {
			shared[a.Addr] = append(shared[a.Addr], a.Name)
		}
	}
	for j := range c.Apps {
		a := &c.Apps[j]
		if a.Addr == "" || a.Unnamed != "" {
			continue
		}
		owner, _ := s.owner(a.Addr)
		var why string
		switch {
		case twice[a.Addr]:
			why = fmt.Sprintf("ambiguous: apps %v of this cluster all have the address %s, so none gets it", shared[a.Addr], a.Addr)
			if shared[a.Addr][0] == a.Name {
				s.Refused = append(s.Refused, refusal(c, KindName, a.Addr, "", why))
			}
		case s.proxies[a.Addr]:
			why = fmt.Sprintf("%s is a proxy's address, which is never an app", a.Addr)
			s.Refused = append(s.Refused, refusal(c, KindName, a.Addr, "", why))
		case owner == nil:
			why = s.outside(c, a.Addr)
		case owner != c:
			why = fmt.Sprintf("%s belongs to cluster %s (%s), whose domain holds it and was there first", a.Addr, owner.Name, owner.ID)
			s.Refused = append(s.Refused, refusal(c, KindName, a.Addr, owner.ID, why))
		default:
			continue
		}
		if s.names[a.Addr] == (appIndex{i, j}) {
			delete(s.names, a.Addr)
		}
		own()
		c.Apps[j].Unnamed = why
	}
}

// outside says why addr, an address of c's, lies in no accepted domain.
func (s *Snapshot) outside(c *Cluster, addr string) string {
	for _, r := range s.Refused {
		if r.Cluster == c.ID && r.Kind == KindZone && InDomain(addr, r.Claim) {
			return fmt.Sprintf("its zone %s was refused: %s", r.Claim, r.Reason)
		}
	}
	return fmt.Sprintf("%s is outside the cluster's DNS domains: add a custom_dns_zones suffix for it to vnet_config", addr)
}
