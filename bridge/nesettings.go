package main

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vnetproject/vnet/core/netcfg"
)

// tunnelRemoteAddress is what NEPacketTunnelNetworkSettings calls the
// tunnel server's address. VNet's "server" is in the same process, so there
// is no address to exclude from the tunnel; loopback is never routed to it.
const tunnelRemoteAddress = "127.0.0.1"

// TunnelSettings is the settings JSON apply_settings receives: an image of
// NEPacketTunnelNetworkSettings, field by field, so that the extension only
// copies values into NE types and decides nothing. Go decides the addresses,
// masks, routes and match domains from netcfg.Settings.
type TunnelSettings struct {
	TunnelRemoteAddress string        `json:"tunnel_remote_address"`
	MTU                 int           `json:"mtu"`
	IPv4                *IPv4Settings `json:"ipv4,omitempty"`
	IPv6                *IPv6Settings `json:"ipv6,omitempty"`
	DNS                 *DNSSettings  `json:"dns,omitempty"`
}

// IPv4Settings maps onto NEIPv4Settings(addresses:subnetMasks:).
type IPv4Settings struct {
	Addresses      []string    `json:"addresses"`
	SubnetMasks    []string    `json:"subnet_masks"`
	IncludedRoutes []IPv4Route `json:"included_routes"`
}

// IPv4Route maps onto NEIPv4Route(destinationAddress:subnetMask:). Prefix
// is the same route in CIDR notation, for tools that take that (the C
// harness's `ip route`).
type IPv4Route struct {
	DestinationAddress string `json:"destination_address"`
	SubnetMask         string `json:"subnet_mask"`
	Prefix             string `json:"prefix"`
}

// IPv6Settings maps onto NEIPv6Settings(addresses:networkPrefixLengths:).
type IPv6Settings struct {
	Addresses            []string    `json:"addresses"`
	NetworkPrefixLengths []int       `json:"network_prefix_lengths"`
	IncludedRoutes       []IPv6Route `json:"included_routes"`
}

// IPv6Route maps onto NEIPv6Route(destinationAddress:networkPrefixLength:).
type IPv6Route struct {
	DestinationAddress  string `json:"destination_address"`
	NetworkPrefixLength int    `json:"network_prefix_length"`
	Prefix              string `json:"prefix"`
}

// DNSSettings maps onto NEDNSSettings(servers:) with matchDomains and
// matchDomainsNoSearch: only queries for the match domains reach VNet,
// and the domains are not added to the search list (a bare "db" must not
// become "db.company.test").
type DNSSettings struct {
	Servers              []string `json:"servers"`
	MatchDomains         []string `json:"match_domains"`
	MatchDomainsNoSearch bool     `json:"match_domains_no_search"`
}

// tunnelSettings shapes s for the Network Extension. It fails on settings
// that NE could not express, naming the value at fault.
func tunnelSettings(s netcfg.Settings) (TunnelSettings, error) {
	ts := TunnelSettings{TunnelRemoteAddress: tunnelRemoteAddress, MTU: s.MTU}
	if !s.TunAddr4.Is4() {
		return TunnelSettings{}, fmt.Errorf("settings: tunnel IPv4 address %v is not IPv4", s.TunAddr4)
	}
	ts.IPv4 = &IPv4Settings{
		Addresses:      []string{s.TunAddr4.String()},
		SubnetMasks:    []string{maskString(32, 32)},
		IncludedRoutes: []IPv4Route{},
	}
	if s.TunAddr6.IsValid() {
		if !s.TunAddr6.Is6() || s.TunAddr6.Is4In6() {
			return TunnelSettings{}, fmt.Errorf("settings: tunnel IPv6 address %v is not IPv6", s.TunAddr6)
		}
		ts.IPv6 = &IPv6Settings{
			Addresses:            []string{s.TunAddr6.String()},
			NetworkPrefixLengths: []int{128},
			IncludedRoutes:       []IPv6Route{},
		}
	}
	for _, r := range s.Routes {
		r = r.Masked()
		switch {
		case !r.IsValid():
			return TunnelSettings{}, fmt.Errorf("settings: invalid route %v", r)
		case r.Addr().Is4():
			ts.IPv4.IncludedRoutes = append(ts.IPv4.IncludedRoutes, IPv4Route{
				DestinationAddress: r.Addr().String(),
				SubnetMask:         maskString(r.Bits(), 32),
				Prefix:             r.String(),
			})
		case ts.IPv6 == nil:
			return TunnelSettings{}, fmt.Errorf("settings: IPv6 route %v without a tunnel IPv6 address", r)
		default:
			ts.IPv6.IncludedRoutes = append(ts.IPv6.IncludedRoutes, IPv6Route{
				DestinationAddress:  r.Addr().String(),
				NetworkPrefixLength: r.Bits(),
				Prefix:              r.String(),
			})
		}
	}
	// An NEDNSSettings without match domains would make VNet the
	// resolver of every name; with none to capture, ask for no DNS at all.
	if len(s.DNSAddrs) > 0 && len(s.DNSZones) > 0 {
		ts.DNS = &DNSSettings{Servers: addrStrings(s.DNSAddrs), MatchDomains: append([]string{}, s.DNSZones...), MatchDomainsNoSearch: true}
	}
	return ts, nil
}

// maskString is the dotted subnet mask of a prefix length, as NEIPv4Route
// wants it ("255.192.0.0" for /10).
func maskString(ones, bits int) string {
	m := net.CIDRMask(ones, bits)
	a, _ := netip.AddrFromSlice(m)
	return a.String()
}

func addrStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}
