package ipam

import (
	"fmt"
	"io"
	"net/netip"
)

// NewULAPrefix returns a random Unique Local IPv6 /64 (RFC 4193 section
// 3.2): fd00::/8, a 40-bit Global ID read from r (crypto/rand.Reader in
// production) and Subnet ID 0. One per machine keeps VNet's IPv6 addresses
// from colliding with another network's ULA.
func NewULAPrefix(r io.Reader) (netip.Prefix, error) {
	var b [16]byte
	b[0] = 0xfd
	if _, err := io.ReadFull(r, b[1:6]); err != nil {
		return netip.Prefix{}, fmt.Errorf("read ULA global ID: %w", err)
	}
	return netip.PrefixFrom(netip.AddrFrom16(b), 64), nil
}

// MapToIPv6 returns the address in ula whose low 32 bits are v4, so an app's
// AAAA answer leads to the same app as its A answer. ula must be an IPv6 /64
// and v4 an IPv4 address; otherwise the result is the zero Addr.
func MapToIPv6(ula netip.Prefix, v4 netip.Addr) netip.Addr {
	v4 = v4.Unmap()
	if !isULA64(ula) || !v4.Is4() {
		return netip.Addr{}
	}
	b := ula.Masked().Addr().As16()
	a4 := v4.As4()
	copy(b[12:], a4[:])
	return netip.AddrFrom16(b)
}

// MapToIPv4 is the inverse of MapToIPv6: it returns the IPv4 address held in
// v6's low 32 bits when v6 lies in ula with bits 64..95 zero (the only
// addresses MapToIPv6 produces).
func MapToIPv4(ula netip.Prefix, v6 netip.Addr) (netip.Addr, bool) {
	if !isULA64(ula) || !v6.Is6() || v6.Is4In6() || v6.Zone() != "" || !ula.Contains(v6) {
		return netip.Addr{}, false
	}
	b := v6.As16()
	if b[8]|b[9]|b[10]|b[11] != 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b[12:16])), true
}

func isULA64(p netip.Prefix) bool {
	return p.IsValid() && p.Bits() == 64 && p.Addr().Is6() && !p.Addr().Is4In6()
}

// TunAddr6 is the device's own IPv6 address: the ULA prefix's ::1.
func TunAddr6(ula netip.Prefix) netip.Addr { return ula.Masked().Addr().Next() }

// DNSAddr6 is where VNet's DNS server listens over IPv6: the prefix's ::2.
// Neither collides with an app: those carry an IPv4 address (never
// network+1 or +2 of a range, never in 0.0.0.0/8) in their low 32 bits.
func DNSAddr6(ula netip.Prefix) netip.Addr { return TunAddr6(ula).Next() }
