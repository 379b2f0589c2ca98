package vnet

import (
	"net/netip"
	"slices"

	"github.com/vnetproject/vnet/core/catalog"
)

// ownsAddr reports whether a is one of VNet's addresses: inside a range
// a cluster of the current catalog claims, or inside the machine's ULA prefix.
// The DNS rebinding guard (dns.RebindGuard) keeps upstream answers from
// pointing there.
func (e *Engine) ownsAddr(a netip.Addr) bool {
	if e.cfg.ULA.Contains(a) {
		return true
	}
	// Every range a cluster claims, accepted or not: cheap to check on
	// every answer, and a refused range is no place for an upstream
	// answer to point either.
	return slices.ContainsFunc(e.cfg.Catalog.Current().Clusters, func(c catalog.Cluster) bool { return c.IPv4Range.Contains(a) })
}
