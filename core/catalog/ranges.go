package catalog

import (
	"fmt"
	"net/netip"
)

// privateRanges are where a cluster's range may lie: shared address space
// (RFC 6598), private networks (RFC 1918) and the benchmarking block (RFC
// 2544). Anything else could take over public addresses.
var privateRanges = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"),
}

// CheckRange returns why VNet may not route r, or "": r must lie inside a
// private block and must not overlap any protected prefix (the proxies'
// and upstream resolvers' addresses, the host's local networks), whatever
// a cluster says.
func CheckRange(r netip.Prefix, protected []netip.Prefix) string {
	if !r.IsValid() || !r.Addr().Is4() {
		return fmt.Sprintf("%s is not an IPv4 range", r)
	}
	inside := false
	for _, p := range privateRanges {
		inside = inside || (p.Bits() <= r.Bits() && p.Contains(r.Addr()))
	}
	if !inside {
		return fmt.Sprintf("%s is not inside 100.64.0.0/10, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or 198.18.0.0/15", r)
	}
	for _, p := range protected {
		if p.Overlaps(r) {
			return fmt.Sprintf("%s covers %s, which this machine uses (a proxy, a DNS resolver or a local network): ask the cluster's admin for another ipv4_cidr_range", r, p)
		}
	}
	return ""
}

// AcceptRanges decides which clusters' ranges VNet may route and take
// addresses from, by cluster ID: each must pass CheckRange and must not
// overlap (or equal) the accepted range of an earlier cluster of another
// profile: the first wins. Clusters of one profile may share a range. A
// cluster whose range is refused has no addresses for its apps.
func (s *Snapshot) AcceptRanges(protected []netip.Prefix) (map[string]netip.Prefix, []Refusal) {
	accepted := map[string]netip.Prefix{}
	var refused []Refusal
	for i := range s.Clusters {
		c := &s.Clusters[i]
		if !c.IPv4Range.IsValid() {
			continue
		}
		why, holder := CheckRange(c.IPv4Range, protected), ""
		if why == "" {
			for _, e := range s.Clusters[:i] {
				if r, ok := accepted[e.ID]; ok && e.Via != c.Via && r.Overlaps(c.IPv4Range) {
					why = fmt.Sprintf("overlaps %s of cluster %s (%s), which was there first: ask the cluster's admin for another ipv4_cidr_range", r, e.Name, e.ID)
					holder = e.ID
					break
				}
			}
		}
		if why != "" {
			refused = append(refused, refusal(c, KindRange, c.IPv4Range.String(), holder, why))
			continue
		}
		accepted[c.ID] = c.IPv4Range
	}
	return accepted, refused
}
