package privsep

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/netcfg"
)

// ulaSpace is where VNet's IPv6 prefix lies (RFC 4193, locally assigned).
var ulaSpace = netip.MustParsePrefix("fd00::/8")

// checkSettings returns why the helper refuses s from an engine: the engine
// runs as the user and is not trusted with the machine. Routes only reach
// the user's own traffic (a table of their own), but the DNS addresses are
// routed for every user and written into the resolver configuration, so
// they must lie inside VNet's routes, and the routes inside private space.
func checkSettings(s netcfg.Settings) error {
	for _, r := range s.Routes {
		if !r.IsValid() {
			return fmt.Errorf("route %v is not valid", r)
		}
		if r.Addr().Is4() {
			if why := catalog.CheckRange(r.Masked(), nil); why != "" {
				return fmt.Errorf("route refused: %s", why)
			}
			continue
		}
		if !(ulaSpace.Bits() <= r.Bits() && ulaSpace.Contains(r.Addr())) {
			return fmt.Errorf("route refused: %s is not inside %s", r, ulaSpace)
		}
	}
	for _, a := range append([]netip.Addr{s.TunAddr4, s.TunAddr6}, s.DNSAddrs...) {
		if !a.IsValid() {
			continue
		}
		if !slices.ContainsFunc(s.Routes, func(r netip.Prefix) bool { return r.Contains(a) }) {
			return fmt.Errorf("address %s refused: it is outside VNet's routes %v", a, s.Routes)
		}
	}
	return nil
}

// hostPrefixes are addrs as /32 and /128 routes.
func hostPrefixes(addrs []netip.Addr) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.PrefixFrom(a.WithZone(""), a.BitLen()))
	}
	return out
}
