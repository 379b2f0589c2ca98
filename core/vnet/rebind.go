package vnet

import (
	"net/netip"
	"slices"
)

// ownsAddr reports whether a is one of VNet's addresses: inside a range of
// a cluster in the current catalog, or inside the machine's ULA prefix.
// The DNS rebinding guard (dns.RebindGuard) keeps upstream answers from
// pointing there.
func (e *Engine) ownsAddr(a netip.Addr) bool {
	if e.cfg.ULA.Contains(a) {
		return true
	}
	return slices.ContainsFunc(e.cfg.Catalog.Current().Ranges(), func(p netip.Prefix) bool { return p.Contains(a) })
}
