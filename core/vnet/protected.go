package vnet

import (
	"context"
	"log/slog"
	"net"
	"net/netip"

	"github.com/vnetproject/vnet/core/profile"
)

// ProxyPrefixes are the addresses of the profiles' proxies, each as a
// single-address prefix, for Config.Protected: a cluster's range must never
// capture the proxy that carries VNet's own traffic. A host is resolved
// once, now, by lookup (the OS resolver, before VNet stands in front of
// it); an IP literal needs no lookup. A host that does not resolve is
// logged and skipped: its cluster is not reachable either.
func ProxyPrefixes(ctx context.Context, profiles []*profile.Profile, lookup func(ctx context.Context, host string) ([]netip.Addr, error), log *slog.Logger) []netip.Prefix {
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	var out []netip.Prefix
	for _, p := range profiles {
		host, _, err := net.SplitHostPort(p.ProxyAddr)
		if err != nil {
			host = p.ProxyAddr
		}
		addrs := []netip.Addr{}
		if a, err := netip.ParseAddr(host); err == nil {
			addrs = append(addrs, a)
		} else if addrs, err = lookup(ctx, host); err != nil && log != nil {
			log.Warn("resolve a proxy to keep ranges off it", "proxy", host, "err", err)
		}
		for _, a := range addrs {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

// AddrPrefixes are servers' addresses (the upstream resolvers) as
// single-address prefixes, for Config.Protected.
func AddrPrefixes(servers []netip.AddrPort) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(servers))
	for _, s := range servers {
		a := s.Addr().Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}
