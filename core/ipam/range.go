package ipam

import (
	"fmt"
	"net/netip"
	"slices"
)

// Range is an Allocator's arithmetic without its record of who holds
// what: where the search for a key's address starts, and the address at
// each step of it. For a caller that keeps one record of taken addresses
// over several ranges (VNet's address book: 100,000 apps held once, not
// once more per allocator). Probing Start, Start+1, ... through At, and
// taking the first free address, is what Allocator.Assign does.
type Range struct {
	prefix netip.Prefix // masked IPv4
	base   uint32       // network address as an integer
	size   uint32       // number of assignable addresses, >= 4
	secret []byte       // keys the hash; empty: unkeyed
	macs   *macs        // HMACs keyed by secret; nil when unkeyed
}

// NewRange is the Range of prefix, with the checks and the secret of
// NewKeyed. Errors wrap ErrNotInRange.
func NewRange(prefix netip.Prefix, secret []byte) (Range, error) {
	if !prefix.IsValid() {
		return Range{}, fmt.Errorf("%w: invalid prefix", ErrNotInRange)
	}
	if !prefix.Addr().Is4() {
		return Range{}, fmt.Errorf("%w: %s is not IPv4", ErrNotInRange, prefix)
	}
	if prefix.Masked() != prefix {
		return Range{}, fmt.Errorf("%w: %s is not a network address (want %s)", ErrNotInRange, prefix, prefix.Masked())
	}
	hostBits := 32 - prefix.Bits()
	if hostBits < minHostBits {
		return Range{}, fmt.Errorf("%w: %s has %d host bits, want at least %d", ErrNotInRange, prefix, hostBits, minHostBits)
	}
	total := uint64(1) << hostBits
	r := Range{
		prefix: prefix,
		base:   addrToUint32(prefix.Addr()),
		size:   uint32(total - reservedLow - 1), // minus the broadcast address
		secret: slices.Clone(secret),
	}
	if len(secret) > 0 {
		r.macs = newMacs(r.secret)
	}
	return r, nil
}

// Prefix returns the range's prefix.
func (r Range) Prefix() netip.Prefix { return r.prefix }

// Size is how many addresses of the range can be assigned: a search that
// took Size steps has seen each of them once.
func (r Range) Size() uint32 { return r.size }

// Start is the step at which the search for key's address starts.
func (r Range) Start(key string) uint64 {
	if r.macs == nil {
		return hashKey(key) % uint64(r.size)
	}
	return r.macs.start(key) % uint64(r.size)
}

// At is the address at step i of a search: never the network address,
// TunAddr, DNSAddr or the broadcast address. Steps wrap around the range.
func (r Range) At(i uint64) netip.Addr {
	return uint32ToAddr(r.base + reservedLow + uint32(i%uint64(r.size)))
}
