package vnet

import (
	"context"
	"net/netip"

	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/ipam"
)

// resolver answers the names of apps in the catalog.
type resolver struct{ e *Engine }

// Resolve owns a name only when it is a TCP app's address (its
// public_addr, or <name>.<proxy host>) inside a domain its cluster owns
// (catalog.Snapshot.Lookup); everything else goes upstream. An owned name answers A
// with its IPv4 address and AAAA with the ULA address that carries it;
// other types get an empty answer with the zone's SOA.
func (r resolver) Resolve(ctx context.Context, name string, qtype uint16) (dns.Answer, bool) {
	m, ok := r.e.cfg.Catalog.Current().Lookup(name)
	if !ok {
		return dns.Answer{}, false
	}
	ans := dns.Answer{TTL: r.e.cfg.DNSTTL, Zone: m.Zone}
	v4, ok := r.e.addrs.addrOf(m.Cluster.ID, m.App.Addr)
	if !ok {
		// Its range is full or refused (reported in status): the name is still
		// VNet's, so answer NODATA rather than send it upstream.
		return ans, true
	}
	// One allocation per answer, room for both families (issue 12).
	ans.Addrs = append(make([]netip.Addr, 0, 2), v4)
	if r.e.cfg.ULA.IsValid() {
		ans.Addrs = append(ans.Addrs, ipam.MapToIPv6(r.e.cfg.ULA, v4))
	}
	return ans, true
}
