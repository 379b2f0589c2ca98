package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// What a leaf may claim. A leaf speaks for its own proxy's host, and for
// the zones and the range its root's admin granted it (remote_cluster
// spec.grants); never for what the root itself serves, nor for what a leaf
// that joined earlier holds. The root applies this to every leaf catalog
// before a user sees it (leaves.catalogs); the laptop checks again.

// claims is what the root holds and what the leaves admitted so far hold,
// for one pass over the leaves in join order. Not safe for concurrent use.
type claims struct {
	root        string          // this cluster's name
	rootRange   netip.Prefix    // this cluster's range
	rootDomains []string        // this proxy's host and this cluster's zones
	rootAddrs   map[string]bool // the address of every app of this cluster

	domains []held            // the proxy hosts of the leaves admitted so far, and the zones granted to those before
	ranges  []heldRange       // the ranges granted to the leaves before
	addrs   map[string]string // their apps' addresses, to the leaf's name
}

type held struct{ domain, leaf string }

type heldRange struct {
	prefix netip.Prefix
	leaf   string
}

// newClaims starts a pass: the root cluster called name, whose proxy's
// public address is publicAddr, with its vnet_config and all its apps
// (not only those a user may see: a leaf must not take any).
func newClaims(name, publicAddr string, cfg *resource.VNetConfig, apps []*resource.App) *claims {
	host := hostOf(publicAddr)
	c := &claims{root: name, rootRange: cfg.Spec.IPv4Prefix(), rootAddrs: map[string]bool{}, addrs: map[string]string{}}
	if host != "" {
		c.rootDomains = append(c.rootDomains, host)
	}
	for _, z := range cfg.Spec.CustomDNSZones {
		c.rootDomains = append(c.rootDomains, z.Suffix)
	}
	for _, a := range apps {
		if addr := appAddr(a.Metadata.Name, a.Spec.PublicAddr, host); addr != "" {
			c.rootAddrs[addr] = true
		}
	}
	return c
}

// admit drops from cat, the catalog of leaf, every claim the leaf may not
// make, and returns one line for each. Its proxy host, if kept, and its
// grants are held against the leaves admitted after it. A leaf without an
// admitted range gets the root's.
func (c *claims) admit(leaf auth.Leaf, cat *api.LeafCatalog) (refused []string) {
	refuse := func(format string, args ...any) { refused = append(refused, fmt.Sprintf(format, args...)) }
	if cat.Config == nil {
		cat.Config = &api.VNetConfig{}
	}
	if cat.Apps == nil {
		cat.Apps = &api.ListAppsResponse{}
	}
	cfg, apps := cat.Config, cat.Apps

	var domains []string
	host := hostOf(apps.ProxyPublicAddr)
	if host != "" {
		if why := c.taken(host); why != "" {
			refuse("proxy host %s: %s: its apps without a public_addr are left out", host, why)
			host, apps.ProxyPublicAddr = "", ""
		} else {
			domains = append(domains, host)
		}
	}

	var zones []string
	for _, z := range cfg.GetCustomDnsZones() {
		z = normalizeName(z)
		why := c.taken(z) // first: a grant cannot help
		if why == "" && !granted(z, leaf.Grants.Zones) {
			why = "not granted by " + c.root
		}
		if why != "" {
			refuse("zone %s: %s", z, why)
			continue
		}
		zones = append(zones, z)
	}
	cfg.CustomDnsZones = zones
	domains = append(domains, zones...)

	rng, why := c.admitRange(leaf, cfg.GetIpv4CidrRange())
	if why != "" {
		refuse("range %s: %s: its apps take addresses from the root's range %s", cfg.GetIpv4CidrRange(), why, c.rootRange)
	}
	cfg.Ipv4CidrRange = rng.String()

	var kept []*api.App
	for _, a := range apps.GetApps() {
		addr := appAddr(a.GetName(), a.GetPublicAddr(), host)
		if addr == "" {
			continue // no public_addr and its proxy host refused: said above
		}
		if why := c.appTaken(addr, domains); why != "" {
			refuse("app %s: address %s %s", a.GetName(), addr, why)
			continue
		}
		c.addrs[addr] = leaf.Name
		kept = append(kept, a)
	}
	apps.Apps = kept

	if host != "" {
		c.domains = append(c.domains, held{host, leaf.Name})
	}
	c.reserve(leaf) // covers the zones and the range admitted
	return refused
}

// reserve holds what leaf was granted against the leaves after it, whether
// or not it is connected or claims it: a grant belongs to the leaf that
// joined first, and does not move while that leaf is away.
func (c *claims) reserve(leaf auth.Leaf) {
	for _, z := range leaf.Grants.Zones {
		c.domains = append(c.domains, held{z, leaf.Name})
	}
	if g := leaf.Grants.IPv4Prefix(); g.IsValid() && g != c.rootRange {
		c.ranges = append(c.ranges, heldRange{g, leaf.Name})
	}
}

// taken says why the domain d cannot be a leaf's: it is, lies in or
// contains a domain of the root or of a leaf admitted before; "" if free.
func (c *claims) taken(d string) string {
	for _, r := range c.rootDomains {
		if rel := relation(d, r); rel != "" {
			return fmt.Sprintf("%s %s, a domain of the root cluster %s", rel, r, c.root)
		}
	}
	for _, h := range c.domains {
		if rel := relation(d, h.domain); rel != "" {
			return fmt.Sprintf("%s %s, a domain of leaf cluster %s (joined first)", rel, h.domain, h.leaf)
		}
	}
	return ""
}

// appTaken says why a leaf app may not have the address addr, given the
// leaf's admitted domains; "" if it may.
func (c *claims) appTaken(addr string, domains []string) string {
	if c.rootAddrs[addr] {
		return "is the address of an app of the root cluster " + c.root
	}
	if leaf, ok := c.addrs[addr]; ok {
		return "is already the address of another app of leaf cluster " + leaf
	}
	for _, r := range c.rootDomains {
		if inDomain(addr, r) {
			return fmt.Sprintf("lies in %s, a domain of the root cluster %s", r, c.root)
		}
	}
	for _, h := range c.domains {
		if inDomain(addr, h.domain) {
			return fmt.Sprintf("lies in %s, a domain of leaf cluster %s", h.domain, h.leaf)
		}
	}
	for _, d := range domains {
		if inDomain(addr, d) {
			return ""
		}
	}
	return "lies outside the leaf's domains (its proxy's host and the zones granted to it)"
}

// admitRange returns the range the leaf's apps take addresses from: the
// one it claims if that is granted and free, else the root's, with why.
// Claiming no range, or the root's, is not a refusal.
func (c *claims) admitRange(leaf auth.Leaf, claimed string) (netip.Prefix, string) {
	if claimed == "" {
		return c.rootRange, ""
	}
	p, err := netip.ParsePrefix(claimed)
	if err != nil || !p.Addr().Is4() {
		return c.rootRange, "is not an IPv4 range"
	}
	p = p.Masked()
	if p == c.rootRange {
		return c.rootRange, ""
	}
	g := leaf.Grants.IPv4Prefix()
	switch {
	case !g.IsValid():
		return c.rootRange, "not granted by " + c.root
	case !g.Contains(p.Addr()) || p.Bits() < g.Bits():
		return c.rootRange, fmt.Sprintf("not granted by %s (it granted %s)", c.root, g)
	case p.Overlaps(c.rootRange):
		return c.rootRange, fmt.Sprintf("overlaps the root's range %s", c.rootRange)
	}
	for _, h := range c.ranges {
		if p.Overlaps(h.prefix) {
			return c.rootRange, fmt.Sprintf("overlaps %s, the range of leaf cluster %s (joined first)", h.prefix, h.leaf)
		}
	}
	return p, ""
}

// checkGrantedRange says why g may not be granted to the leaf called
// leaf, given the root's range and the other leaves' grants; nil if it
// may. A leaf may be granted the root's own range (it is the default).
func checkGrantedRange(g string, leaf string, rootRange netip.Prefix, leaves []auth.Leaf) error {
	p, err := netip.ParsePrefix(g)
	if g == "" || err != nil {
		return nil // no range, or one the resource check refuses
	}
	if p != rootRange && p.Overlaps(rootRange) {
		return fmt.Errorf("%s overlaps this cluster's range %s: grant a range outside it (or the same range)", p, rootRange)
	}
	for _, l := range leaves {
		if o := l.Grants.IPv4Prefix(); l.Name != leaf && o.IsValid() && o != rootRange && p.Overlaps(o) {
			return fmt.Errorf("%s overlaps %s, granted to leaf cluster %s", p, o, l.Name)
		}
	}
	return nil
}

// granted reports whether zone is one of zones or lies in one.
func granted(zone string, zones []string) bool {
	for _, g := range zones {
		if inDomain(zone, g) {
			return true
		}
	}
	return false
}

// relation says how the domain a stands to b: "is", "lies in",
// "contains", or "" if neither holds the other.
func relation(a, b string) string {
	switch {
	case a == b:
		return "is"
	case inDomain(a, b):
		return "lies in"
	case inDomain(b, a):
		return "contains"
	}
	return ""
}

// inDomain reports whether name is domain or below it; both normalised.
// "evilcompany.test" is not in "company.test".
func inDomain(name, domain string) bool {
	return name == domain || strings.HasSuffix(name, "."+domain)
}

// appAddr is an app's address: its public_addr, or else
// <name>.<proxyHost> (PLAN decision 1); "" if it has neither.
func appAddr(name, publicAddr, proxyHost string) string {
	if publicAddr != "" {
		return normalizeName(publicAddr)
	}
	if proxyHost == "" {
		return ""
	}
	return normalizeName(name) + "." + proxyHost
}

// hostOf is the normalised host of a host:port (or bare host) address.
func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	return normalizeName(addr)
}

// normalizeName lower-cases a DNS name (ASCII only) and strips its
// trailing dot.
func normalizeName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return strings.TrimSuffix(string(b), ".")
}
