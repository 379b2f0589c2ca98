// Package netcfg describes the network settings VNet asks of the operating
// system: one value, computed by the engine from the catalog, applied as a
// whole by core/platform on Linux and by the Network Extension on macOS, and
// sent again whenever it changes.
package netcfg

import (
	"net/netip"
	"slices"
)

// Settings is everything the OS must do for VNet to receive its traffic.
type Settings struct {
	// TunAddr4 is the device's own IPv4 address: network+1 of one root
	// cluster's range.
	TunAddr4 netip.Addr `json:"tun_addr4"`
	// TunAddr6 is the device's own IPv6 address (::1 of the ULA prefix);
	// invalid when IPv6 is off.
	TunAddr6 netip.Addr `json:"tun_addr6,omitzero"`
	// Routes are sent to the device: every cluster's IPv4 range and the
	// IPv6 ULA prefix.
	Routes []netip.Prefix `json:"routes"`
	// DNSAddrs are where VNet's DNS server listens (network+2, ULA ::2).
	DNSAddrs []netip.Addr `json:"dns_addrs"`
	// DNSZones are the domains whose queries must reach VNet: proxy
	// addresses and custom zones, lower-case, without trailing dot.
	DNSZones []string `json:"dns_zones"`
	// MTU of the device.
	MTU int `json:"mtu"`
}

// Equal reports whether two settings ask the same of the OS.
func (s Settings) Equal(o Settings) bool {
	if s.TunAddr4 != o.TunAddr4 || s.TunAddr6 != o.TunAddr6 || s.MTU != o.MTU {
		return false
	}
	return slices.Equal(s.Routes, o.Routes) && slices.Equal(s.DNSAddrs, o.DNSAddrs) && slices.Equal(s.DNSZones, o.DNSZones)
}
