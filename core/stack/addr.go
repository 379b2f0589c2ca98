package stack

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// toTCPIP converts a to gVisor's form. The unspecified address becomes the
// empty Address, which gVisor reads as "any" when binding.
func toTCPIP(a netip.Addr) tcpip.Address {
	a = a.Unmap()
	switch {
	case !a.IsValid() || a.IsUnspecified():
		return tcpip.Address{}
	case a.Is4():
		return tcpip.AddrFrom4(a.As4())
	default:
		return tcpip.AddrFrom16(a.As16())
	}
}

// fromTCPIP converts a gVisor address back; an address of another length
// gives the zero netip.Addr.
func fromTCPIP(a tcpip.Address) netip.Addr {
	switch a.Len() {
	case 4:
		return netip.AddrFrom4(a.As4())
	case 16:
		return netip.AddrFrom16(a.As16())
	}
	return netip.Addr{}
}

// netProto is the gVisor network protocol of a's family.
func netProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Unmap().Is4() {
		return header.IPv4ProtocolNumber
	}
	return header.IPv6ProtocolNumber
}

// fullAddress is the gVisor endpoint address for ap on the stack's NIC.
func fullAddress(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: toTCPIP(ap.Addr()), Port: ap.Port()}
}
