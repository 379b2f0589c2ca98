package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

var (
	// ErrFull is returned by Assign when every assignable address of the
	// range is taken.
	ErrFull = errors.New("ipam: address range is full")
	// ErrNotInRange is returned by New for a prefix it cannot serve.
	ErrNotInRange = errors.New("ipam: prefix not usable")
)

// minHostBits is the smallest range New accepts: 8 addresses, 4 of them
// reserved, leaves 4 to assign. The vnet_config resource asks for at least 8
// host bits; the lower limit here lets tests exhaust a range quickly.
const minHostBits = 3

// reservedLow is the number of addresses at the start of a range that are
// never assigned: the network address, the TUN (network+1) and the DNS
// server (network+2). The broadcast address at the end is reserved too.
const reservedLow = 3

// Allocator assigns addresses of one IPv4 range to keys (app names). It is
// safe for concurrent use.
//
// The first address tried for a key is derived from a hash of the key (and
// of the machine's secret, see NewKeyed), so in any process the same key
// gets the same address unless another key already holds it; on a
// collision the next free address is taken (linear probing), which depends
// on which keys came first.
type Allocator struct {
	r Range // never changes

	mu     sync.Mutex
	byKey  map[string]netip.Addr // guarded by mu
	byAddr map[netip.Addr]string // guarded by mu; inverse of byKey
}

// New returns an Allocator for prefix, which must be a masked IPv4 prefix
// with at least 3 host bits, whose addresses anyone can compute from the
// keys (see NewKeyed). Errors wrap ErrNotInRange.
func New(prefix netip.Prefix) (*Allocator, error) {
	return NewKeyed(prefix, nil)
}

// NewKeyed is New with addresses derived from secret as well as from the
// keys: allocators with the same secret agree, and without the secret an
// app's address cannot be computed from its name. An empty secret gives
// New's allocator.
func NewKeyed(prefix netip.Prefix, secret []byte) (*Allocator, error) {
	r, err := NewRange(prefix, secret)
	if err != nil {
		return nil, err
	}
	return &Allocator{r: r, byKey: make(map[string]netip.Addr), byAddr: make(map[netip.Addr]string)}, nil
}

// Prefix returns the range the allocator assigns from.
func (a *Allocator) Prefix() netip.Prefix { return a.r.prefix }

// Assign returns key's address, assigning one if key has none. The address
// is never the network address, TunAddr, DNSAddr or the broadcast address.
// It returns ErrFull when no address is left.
func (a *Allocator) Assign(key string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byKey[key]; ok {
		return addr, nil
	}
	if uint64(len(a.byKey)) >= uint64(a.r.size) {
		return netip.Addr{}, fmt.Errorf("assign %q in %s: %w", key, a.r.prefix, ErrFull)
	}
	start := a.r.Start(key)
	// The loop ends: fewer than size addresses are taken.
	for i := start; ; i++ {
		addr := a.r.At(i)
		if _, taken := a.byAddr[addr]; taken {
			continue
		}
		a.byKey[key] = addr
		a.byAddr[addr] = key
		return addr, nil
	}
}

// Lookup returns the key that holds addr.
func (a *Allocator) Lookup(addr netip.Addr) (key string, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key, ok = a.byAddr[addr.Unmap()]
	return key, ok
}

// Release frees key's address, if it has one. A later Assign of the same key
// gets the same address unless another key took it in between.
func (a *Allocator) Release(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if addr, ok := a.byKey[key]; ok {
		delete(a.byKey, key)
		delete(a.byAddr, addr)
	}
}

// TunAddr returns the address of the TUN device in p: network+1.
func TunAddr(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// DNSAddr returns the address of VNet's DNS server in p: network+2.
func DNSAddr(p netip.Prefix) netip.Addr { return TunAddr(p).Next() }

func addrToUint32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func uint32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
