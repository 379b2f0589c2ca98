package vnet

import (
	"context"
	"net/netip"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/dns"
)

// resolver answers the names of apps in the catalog.
type resolver struct{ e *Engine }

// Resolve owns a name only when it is a TCP app's public address inside a
// captured domain; everything else goes upstream.
func (r resolver) Resolve(ctx context.Context, name string, qtype uint16) (dns.Answer, bool) {
	m, ok := r.e.cfg.Catalog.Current().Lookup(name)
	if !ok {
		return dns.Answer{}, false
	}
	ans := dns.Answer{TTL: r.e.cfg.DNSTTL}
	if qtype != mdns.TypeA {
		// AAAA comes with IPv6 support; other types of an app's name
		// are an empty NOERROR, never NXDOMAIN.
		return ans, true
	}
	addr, err := r.e.addrs.assign(m.Cluster, m.App)
	if err != nil {
		r.e.log.Warn("no address for app", "app", m.App.Name, "err", err)
		return ans, true
	}
	ans.Addrs = []netip.Addr{addr}
	return ans, true
}
