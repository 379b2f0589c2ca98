package vnet

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
)

// proxyPrefixes are the addresses of the proxy at proxyAddr, each as a
// single-address prefix, for Config.Protected: a cluster's range must never
// capture the proxy that carries VNet's own traffic. A host is resolved
// now, by the OS resolver (VNet always forwards a proxy's own name); an IP
// literal needs no lookup. A host that does not resolve is logged and
// skipped: its cluster is not reachable either.
func proxyPrefixes(ctx context.Context, proxyAddr string, log *slog.Logger) []netip.Prefix {
	host, _, err := net.SplitHostPort(proxyAddr)
	if err != nil {
		host = proxyAddr
	}
	addrs := []netip.Addr{}
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = append(addrs, a)
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		log.Warn("resolve a proxy to keep ranges off it", "proxy", host, "err", err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
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
