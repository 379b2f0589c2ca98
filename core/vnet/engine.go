// Package vnet is the engine: it wires the netstack, the DNS server, the
// address allocator, the catalog and the tunnel into one VNet that runs over
// a PacketIO. It knows nothing about the OS; settings for the OS leave it as
// one netcfg.Settings value.
package vnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/ipam"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/stack"
)

// DefaultDNSTTL is the TTL of VNet's own answers: short, so that a client
// that cached an answer follows catalog changes quickly.
const DefaultDNSTTL = 10

// Dialer reaches an app of a cluster: in production through that cluster's
// tunnel.
type Dialer interface {
	DialApp(ctx context.Context, cluster, app string, port uint16, clientAddr string) (net.Conn, error)
}

// Config is what the engine needs.
type Config struct {
	IO       stack.PacketIO   // never nil
	Catalog  *catalog.Catalog // never nil
	Dialer   Dialer           // never nil
	Upstream dns.Upstream     // never nil: where names that are not VNet's go
	// ApplySettings asks the OS to route VNet's addresses and DNS zones to
	// IO. Called once the catalog is known, and again whenever it changes.
	ApplySettings func(context.Context, netcfg.Settings) error
	MTU           int           // default 1500
	DNSTTL        uint32        // default DefaultDNSTTL
	DialTimeout   time.Duration // bounds a tunnel dial; default 10s
	Logger        *slog.Logger
}

// CheckAndSetDefaults validates c and fills in defaults.
func (c *Config) CheckAndSetDefaults() error {
	switch {
	case c.IO == nil:
		return errors.New("vnet: packet I/O is required")
	case c.Catalog == nil:
		return errors.New("vnet: catalog is required")
	case c.Dialer == nil:
		return errors.New("vnet: dialer is required")
	case c.Upstream == nil:
		return errors.New("vnet: upstream resolver is required")
	}
	if c.ApplySettings == nil {
		c.ApplySettings = func(context.Context, netcfg.Settings) error { return nil }
	}
	if c.MTU == 0 {
		c.MTU = 1500
	}
	if c.DNSTTL == 0 {
		c.DNSTTL = DefaultDNSTTL
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Engine is one running VNet.
type Engine struct {
	cfg Config
	log *slog.Logger

	addrs *addressBook // never nil

	mu       sync.Mutex
	settings netcfg.Settings // guarded by mu; what the OS was last asked for
	started  time.Time       // guarded by mu
}

// New returns an engine ready to Run.
func New(cfg Config) (*Engine, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, log: cfg.Logger, addrs: newAddressBook()}, nil
}

// Run fetches the catalog, starts the netstack and the DNS server on it,
// asks the OS for its settings and serves until ctx is done or the packet
// I/O fails.
func (e *Engine) Run(ctx context.Context) error {
	snap, err := e.cfg.Catalog.Refresh(ctx)
	if err != nil {
		return err
	}
	e.assignAll(snap)
	root := snap.Clusters[0].IPv4Range
	dnsAddr := ipam.DNSAddr(root)

	st, err := stack.New(stack.Config{
		IO:        e.cfg.IO,
		MTU:       uint32(e.cfg.MTU),
		Addresses: []netip.Addr{dnsAddr},
		HandleTCP: e.handleTCP,
		Logger:    e.log,
	})
	if err != nil {
		return fmt.Errorf("start netstack: %w", err)
	}
	defer st.Close()

	dnsSrv, err := dns.NewServer(dns.Config{Resolver: resolver{e}, Upstream: e.cfg.Upstream, Logger: e.log})
	if err != nil {
		return err
	}
	udp, err := st.ListenUDP(netip.AddrPortFrom(dnsAddr, 53))
	if err != nil {
		return fmt.Errorf("listen dns/udp: %w", err)
	}
	tcp, err := st.ListenTCP(netip.AddrPortFrom(dnsAddr, 53))
	if err != nil {
		udp.Close()
		return fmt.Errorf("listen dns/tcp: %w", err)
	}

	settings := netcfg.Settings{
		TunAddr4: ipam.TunAddr(root),
		Routes:   snap.Ranges(),
		DNSAddrs: []netip.Addr{dnsAddr},
		DNSZones: snap.Domains(),
		MTU:      e.cfg.MTU,
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
			}
			cancel()
		}()
	}
	run("netstack", func() error { return st.Run(ctx) })
	run("dns/udp", func() error { return dnsSrv.ServeUDP(ctx, udp) })
	run("dns/tcp", func() error { return dnsSrv.ServeTCP(ctx, tcp) })

	if err := e.cfg.ApplySettings(ctx, settings); err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("configure the OS: %w", err)
	}
	e.mu.Lock()
	e.settings = settings
	e.started = time.Now()
	e.mu.Unlock()
	e.log.Info("VNet is up", "tun", settings.TunAddr4, "dns", dnsAddr, "zones", settings.DNSZones, "routes", settings.Routes)

	<-ctx.Done()
	udp.Close()
	tcp.Close()
	st.Close()
	wg.Wait()
	close(errs)
	return <-errs // nil when ctx ended the run
}
