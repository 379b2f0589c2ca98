package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

const (
	// DefaultMTU is the link MTU when Config.MTU is zero: the usual Ethernet
	// payload, which is what a TUN device gets by default.
	DefaultMTU = 1500
	// MinMTU is the smallest MTU IPv6 allows (RFC 8200 section 5); the
	// stack always runs IPv6, so it cannot go below it.
	MinMTU = 1280
	// MaxMTU is the largest IP packet there is.
	MaxMTU = 65535

	// DefaultMaxInFlightTCP bounds the SYNs being decided at once when
	// Config.MaxInFlightTCP is zero. It matches Teleport's lib/vnet.
	DefaultMaxInFlightTCP = 1024
)

// Config is what New needs to build a Stack.
type Config struct {
	// IO carries the packets. Never nil. The Stack owns it once New
	// succeeds and closes it in Close.
	IO PacketIO
	// MTU of the link, in bytes. Zero means DefaultMTU.
	MTU uint32
	// Addresses the stack owns (e.g. the DNS server's IPv4 and IPv6
	// addresses). ListenTCP and ListenUDP bind only to these; the Dial
	// methods use them as the default source. IPv4-mapped IPv6 addresses
	// are stored as IPv4.
	Addresses []netip.Addr
	// HandleTCP is called in its own goroutine for every inbound TCP SYN
	// to an address and port the stack does not listen on. Any
	// destination reaches it: the link is promiscuous and spoofing, so
	// every virtual IP behind the TUN is answered from that IP. ctx is
	// cancelled when the Stack closes; HandleTCP must then return soon.
	// nil: every such SYN is refused with a RST.
	HandleTCP func(ctx context.Context, req *TCPRequest)
	// MaxInFlightTCP bounds the SYNs not answered yet (HandleTCP has
	// neither accepted nor refused them); the connections accepted do not
	// count. SYNs beyond it are dropped (the client retransmits them).
	// Zero means DefaultMaxInFlightTCP.
	MaxInFlightTCP int
	// Logger for events worth a line. nil means slog.Default().
	Logger *slog.Logger
}

// CheckAndSetDefaults validates c and fills in the zero fields that have a
// default.
func (c *Config) CheckAndSetDefaults() error {
	if c.IO == nil {
		return errors.New("stack config: IO is nil; pass the TUN device or a stacktest.Pipe end")
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < MinMTU || c.MTU > MaxMTU {
		return fmt.Errorf("stack config: MTU %d out of range; use %d to %d (IPv6 needs at least %d)", c.MTU, MinMTU, MaxMTU, MinMTU)
	}
	seen := make(map[netip.Addr]bool, len(c.Addresses))
	addrs := make([]netip.Addr, 0, len(c.Addresses))
	for _, a := range c.Addresses {
		if !a.IsValid() || a.IsUnspecified() {
			return fmt.Errorf("stack config: address %q is not a usable unicast address", a)
		}
		a = a.Unmap().WithZone("")
		if seen[a] {
			return fmt.Errorf("stack config: address %s is listed twice", a)
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	// A copy, so that the caller's slice is not changed by Unmap.
	c.Addresses = addrs
	if c.MaxInFlightTCP < 0 {
		return fmt.Errorf("stack config: MaxInFlightTCP %d is negative", c.MaxInFlightTCP)
	}
	if c.MaxInFlightTCP == 0 {
		c.MaxInFlightTCP = DefaultMaxInFlightTCP
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
