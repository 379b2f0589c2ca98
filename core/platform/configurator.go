package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/vnetproject/vnet/core/netcfg"
)

// The MTUs a device takes: MinMTU is IPv4's least (RFC 791), MaxMTU the
// largest IP packet.
const (
	MinMTU = 68
	MaxMTU = 65535
)

// linkOps are the OS operations a Configurator makes: netlink on Linux, a
// recording fake in tests. Adding what is already there and deleting what is
// already gone succeed, so a retried Apply or a Close after the device
// vanished does not fail.
type linkOps interface {
	// linkUp sets the device up, with mtu unless mtu is 0.
	linkUp(dev string, mtu int) error
	addrAdd(dev string, p netip.Prefix) error
	addrDel(dev string, p netip.Prefix) error
	// routeAdd routes p to the device.
	routeAdd(dev string, p netip.Prefix) error
	routeDel(dev string, p netip.Prefix) error
}

// Configurator makes the OS match a netcfg.Settings value: the device up with
// its MTU, its addresses, routes to it, and DNS. It remembers what it changed
// so that the next Apply changes only the difference and Close undoes it all.
type Configurator struct {
	dev string          // never empty
	ops linkOps         // never nil
	dns dnsConfigurator // never nil
	log *slog.Logger    // never nil

	mu     sync.Mutex
	closed bool           // guarded by mu
	up     bool           // the device was set up; guarded by mu
	mtu    int            // MTU last set; guarded by mu
	addrs  []netip.Prefix // addresses this Configurator added; guarded by mu
	routes []netip.Prefix // routes this Configurator added; guarded by mu
}

func newConfigurator(cfg Config, ops linkOps) (*Configurator, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Configurator{
		dev: cfg.TunName,
		ops: ops,
		dns: newDNSConfigurator(cfg),
		log: cfg.Logger.With("dev", cfg.TunName),
	}, nil
}

// Apply makes the OS match s: the link up with s.MTU, TunAddr4 as a /32 and
// TunAddr6 (if valid) as a /128 on the device, a route to the device for each
// of s.Routes, and DNS per the DNS mode. Called again whenever the settings
// change, it adds what is new and removes what is no longer wanted (new
// before old, so traffic to a range that stays never loses its route).
//
// If some changes fail, Apply still makes the others and returns all the
// failures; the next Apply retries what is missing.
func (c *Configurator) Apply(ctx context.Context, s netcfg.Settings) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	addrs, routes, err := wanted(s)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if !c.up || c.mtu != s.MTU {
		if err := c.ops.linkUp(c.dev, s.MTU); err != nil {
			return fmt.Errorf("set %s up: %w", c.dev, err)
		}
		c.up, c.mtu = true, s.MTU
	}
	errs := []error{
		c.sync("address", &c.addrs, addrs, c.ops.addrAdd, c.ops.addrDel),
		c.sync("route", &c.routes, routes, c.ops.routeAdd, c.ops.routeDel),
	}
	if err := c.dns.apply(s); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("configure %s: %w", c.dev, err)
	}
	return nil
}

// sync makes *have equal want: adds what is missing (in want's order), then
// deletes what is not wanted. *have records only what succeeded.
func (c *Configurator) sync(what string, have *[]netip.Prefix, want []netip.Prefix,
	add, del func(string, netip.Prefix) error) error {
	var errs []error
	for _, p := range want {
		if slices.Contains(*have, p) {
			continue
		}
		if err := add(c.dev, p); err != nil {
			errs = append(errs, fmt.Errorf("add %s %s: %w", what, p, err))
			continue
		}
		c.log.Debug("added "+what, what, p)
		*have = append(*have, p)
	}
	for _, p := range slices.Clone(*have) {
		if slices.Contains(want, p) {
			continue
		}
		if err := del(c.dev, p); err != nil {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", what, p, err))
			continue
		}
		c.log.Debug("deleted "+what, what, p)
		*have = slices.DeleteFunc(*have, func(q netip.Prefix) bool { return q == p })
	}
	return errors.Join(errs...)
}

// Close undoes everything Apply did: routes, addresses, and the resolver
// configuration restored. It is idempotent. The device itself belongs to
// whoever opened it.
func (c *Configurator) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	// DNS first: once the routes are gone VNet's DNS server is unreachable.
	errs := []error{
		c.dns.close(),
		c.sync("route", &c.routes, nil, c.ops.routeAdd, c.ops.routeDel),
		c.sync("address", &c.addrs, nil, c.ops.addrAdd, c.ops.addrDel),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("unconfigure %s: %w", c.dev, err)
	}
	return nil
}

// wanted checks s and returns the addresses and routes it asks for.
func wanted(s netcfg.Settings) (addrs, routes []netip.Prefix, err error) {
	if !s.TunAddr4.Is4() {
		return nil, nil, fmt.Errorf("network settings: device IPv4 address %v is not IPv4", s.TunAddr4)
	}
	addrs = append(addrs, netip.PrefixFrom(s.TunAddr4, 32))
	if s.TunAddr6.IsValid() {
		if !s.TunAddr6.Is6() || s.TunAddr6.Is4In6() {
			return nil, nil, fmt.Errorf("network settings: device IPv6 address %v is not IPv6", s.TunAddr6)
		}
		addrs = append(addrs, netip.PrefixFrom(s.TunAddr6.WithZone(""), 128))
	}
	for _, r := range s.Routes {
		if !r.IsValid() {
			return nil, nil, fmt.Errorf("network settings: invalid route %v", r)
		}
		r = r.Masked()
		if !slices.Contains(routes, r) {
			routes = append(routes, r)
		}
	}
	for _, a := range s.DNSAddrs {
		if !a.IsValid() {
			return nil, nil, fmt.Errorf("network settings: invalid DNS address %v", a)
		}
	}
	// 0 leaves the device's MTU alone.
	if s.MTU != 0 && (s.MTU < MinMTU || s.MTU > MaxMTU) {
		return nil, nil, fmt.Errorf("network settings: MTU %d out of range", s.MTU)
	}
	return addrs, routes, nil
}
