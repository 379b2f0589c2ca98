package vnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack"
)

// This file is the one way to start VNet: `vnet up` (core/cmd/vnet) and the
// macOS bridge (bridge/instance.go) fill Options, Open a Runner and Run it
// on their Host. Everything they share (loading the logins, the machine's
// state files, the upstream forwarder, the catalog, following logins, the
// limits) is here; what differs per OS is the Host.

// The engine's limits and defaults.
const (
	// DefaultMTU is the MTU when Options.MTU is 0.
	DefaultMTU = stack.DefaultMTU
	// MinMTU and MaxMTU bound Options.MTU: the netstack always runs IPv6.
	MinMTU = stack.MinMTU
	MaxMTU = stack.MaxMTU
	// DefaultUpstreamTimeout bounds a forwarded query when
	// Options.UpstreamTimeout is 0: a dead upstream yields SERVFAIL after
	// this long, never a hang.
	DefaultUpstreamTimeout = 3 * time.Second
)

// The files Open keeps in Options.StateDir.
const (
	ULAFile    = "ula-prefix"     // LoadOrCreateULA
	SecretFile = "address-secret" // LoadOrCreateSecret
)

// PacketIO carries VNet's packets to and from the OS (a TUN device, the
// bridge's queue).
type PacketIO = stack.PacketIO

// Host is what differs per OS: where VNet's packets go, how the OS is told
// to send VNet's addresses and names to it, and which of the host's own
// networks a cluster's range must leave alone.
type Host interface {
	// PacketIO carries the packets. Run closes it when it returns; its
	// Close may be called more than once.
	PacketIO
	// ApplySettings puts s in force: called once the catalog is known and
	// whenever what it asks for changes; an error is logged, shown in
	// Status and retried.
	ApplySettings(ctx context.Context, s netcfg.Settings) error
	// LocalPrefixes are the host's own networks, which no cluster's range
	// may cover. Called at every catalog change, so it may follow the
	// host's routes; nil: none known.
	LocalPrefixes() []netip.Prefix
}

// MTURange is the MTUs one layer takes, both ends included; a zero end is
// no bound.
type MTURange struct {
	Min, Max int
	// Who is the layer, for the error: "the TUN device".
	Who string
}

// check says in one line why mtu is outside r.
func (r MTURange) check(mtu int) error {
	switch {
	case r.Min != 0 && mtu < r.Min:
		return fmt.Errorf("mtu %d: at least %d (%s takes no less)", mtu, r.Min, r.Who)
	case r.Max != 0 && mtu > r.Max:
		return fmt.Errorf("mtu %d: at most %d (%s takes no more)", mtu, r.Max, r.Who)
	}
	return nil
}

// Options is how VNet is started: what `vnet up` reads from its flags and
// the bridge from vnet_start's JSON. CheckAndSetDefaults checks them all,
// before anything starts; Open calls it.
type Options struct {
	// ProfileDir holds the logins (profile.LoadAll), followed while VNet
	// runs. Required.
	ProfileDir string
	// StateDir keeps the machine's state across runs: its IPv6 prefix
	// (ULAFile) and address secret (SecretFile). Created if missing.
	// Required.
	StateDir string
	// Upstream are the resolvers names that are not VNet's go to
	// (ParseResolvConf). At least one.
	Upstream []netip.AddrPort
	// UpstreamTimeout bounds a forwarded query; 0: DefaultUpstreamTimeout.
	UpstreamTimeout time.Duration
	// MTU of VNet's link; 0: DefaultMTU. Within MinMTU..MaxMTU and
	// HostMTU.
	MTU int
	// HostMTU is what the host's side of the link takes
	// (platform.MinMTU..MaxMTU, the bridge's); zero: no bound of its own.
	HostMTU MTURange
	// IPv6 answers AAAA and routes the machine's ULA /64 (kept in
	// StateDir, so apps keep their IPv6 addresses).
	IPv6 bool
	// Logger; nil: slog.Default().
	Logger *slog.Logger
	// Metrics gets what VNet does, for an exporter (`vnet up
	// --metrics-addr`: core/vnet/vnetmetrics); nil: nothing.
	Metrics Metrics
	// Progress hears what a person who started VNet wants to see: each
	// login's catalog arriving, apps coming and going (`vnet up` prints
	// it); nil: nothing.
	Progress Progress
}

// CheckAndSetDefaults validates o and fills in defaults. Each error is one
// line that names the option at fault and what it takes. Calling it again
// is harmless.
func (o *Options) CheckAndSetDefaults() error {
	if o.ProfileDir == "" {
		return errors.New("profile directory is required (the folder holding profiles/)")
	}
	if o.StateDir == "" {
		return errors.New("state directory is required (where VNet keeps this machine's address secret)")
	}
	if len(o.Upstream) == 0 {
		return errors.New("no upstream DNS server: VNet forwards the names that are not its own to at least one")
	}
	for _, s := range o.Upstream {
		if !s.Addr().IsValid() || s.Addr().IsUnspecified() || s.Port() == 0 {
			return fmt.Errorf("upstream DNS server %q: want an IP address and a port other than 0", s)
		}
	}
	if o.UpstreamTimeout < 0 {
		return fmt.Errorf("upstream timeout %s is negative", o.UpstreamTimeout)
	}
	if o.UpstreamTimeout == 0 {
		o.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if o.MTU == 0 {
		o.MTU = DefaultMTU
	}
	switch {
	case o.MTU < MinMTU:
		return fmt.Errorf("mtu %d: at least %d (IPv6 needs it)", o.MTU, MinMTU)
	case o.MTU > MaxMTU:
		return fmt.Errorf("mtu %d: at most %d (the largest IP packet)", o.MTU, MaxMTU)
	}
	if err := o.HostMTU.check(o.MTU); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Runner is one VNet: the logins' connections, the catalog, the upstream
// forwarder and the engine, made by Open, served on a Host by Run, ended
// by Close.
type Runner struct {
	opts     Options          // checked
	log      *slog.Logger     // never nil
	upstream *dns.Forwarder   // never nil
	clusters *Clusters        // never nil; closed by Close
	catalog  *catalog.Catalog // never nil; run by the engine
	engine   *Engine          // never nil

	// host is nil until Run sets it, before the engine starts: the
	// engine, its only reader, runs after that write.
	host Host

	mu      sync.Mutex
	running bool // guarded by mu; Run was called
}

// Open checks opts, loads the logins and the machine's state and connects
// to every logged-in cluster (lazily: a cluster down now is retried on
// use). It changes nothing on the host; Run does. On error nothing is left
// open.
func Open(opts Options) (*Runner, error) {
	if err := opts.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	r := &Runner{opts: opts, log: opts.Logger}
	profiles, err := profile.LoadAll(opts.ProfileDir)
	if err != nil {
		return nil, err
	}
	if r.upstream, err = dns.NewForwarder(opts.Upstream, opts.UpstreamTimeout); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o755); err != nil {
		return nil, err
	}
	var ula netip.Prefix
	if opts.IPv6 {
		if ula, err = LoadOrCreateULA(filepath.Join(opts.StateDir, ULAFile)); err != nil {
			return nil, err
		}
	}
	secret, err := LoadOrCreateSecret(filepath.Join(opts.StateDir, SecretFile))
	if err != nil {
		return nil, err
	}
	if r.clusters, err = Connect(profiles); err != nil {
		return nil, err
	}
	r.clusters.SetLogger(r.log)
	r.clusters.SetMetrics(opts.Metrics)
	if r.catalog, err = catalog.New(r.clusters.Logins(), r.log); err != nil {
		r.clusters.Close()
		return nil, err
	}
	// Addresses no cluster's range may cover: the upstream resolvers, the
	// proxies (resolved as each login is added) and the host's networks.
	upstreamPrefixes := AddrPrefixes(opts.Upstream)
	r.engine, err = New(Config{
		IO:       hostIO{r},
		Catalog:  r.catalog,
		Dialer:   r.clusters,
		Upstream: r.upstream,
		ULA:      ula,
		MTU:      opts.MTU,
		Logger:   r.log,
		Protected: func() []netip.Prefix {
			return slices.Concat(r.clusters.ProxyPrefixes(), upstreamPrefixes, r.host.LocalPrefixes())
		},
		ApplySettings: func(ctx context.Context, s netcfg.Settings) error { return r.host.ApplySettings(ctx, s) },
		AddressSecret: secret,
		Metrics:       opts.Metrics,
		Progress:      opts.Progress,
	})
	if err != nil {
		r.clusters.Close()
		return nil, err
	}
	return r, nil
}

// Run serves on host until ctx is done or the engine fails: it follows the
// catalog and the logins in ProfileDir (a login, a re-login or a logout
// reaches the running VNet) and keeps the OS settings in line. It closes
// host's PacketIO when it returns; Close releases the rest. Run is called
// once.
func (r *Runner) Run(ctx context.Context, host Host) error {
	if host == nil {
		return errors.New("vnet: Run without a host")
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("vnet: Run called twice")
	}
	r.running = true
	r.mu.Unlock()
	r.host = host

	fctx, stopFollow := context.WithCancel(ctx)
	following := make(chan struct{})
	go func() {
		defer close(following)
		r.clusters.Follow(fctx, r.opts.ProfileDir, r.catalog)
	}()
	defer func() { stopFollow(); <-following }()
	// The netstack closes host once it has started; an engine that ends
	// before that (no usable range) leaves it to this.
	defer host.Close()
	return r.engine.Run(ctx)
}

// Close closes the connections to the clusters and the upstream
// forwarder's sockets. Call it after Run has returned, or instead of Run.
// It is idempotent.
func (r *Runner) Close() error {
	r.upstream.Close()
	return r.clusters.Close()
}

// Status reports what VNet is doing now.
func (r *Runner) Status() Status { return r.engine.Status() }

// FirstApps is the first n apps VNet serves at an address, in Status's
// order, and how many it serves (Engine.FirstApps).
func (r *Runner) FirstApps(n int) ([]AppStatus, int) { return r.engine.FirstApps(n) }

// Options are the options VNet runs with, defaults filled in.
func (r *Runner) Options() Options { return r.opts }

// Clusters are the logins' connections (for diag.Of).
func (r *Runner) Clusters() *Clusters { return r.clusters }

// Upstream is where names that are not VNet's go (for diag.Of).
func (r *Runner) Upstream() dns.Upstream { return r.upstream }

// ParseResolvConf reads the nameservers of a resolv.conf, each on port 53:
// the usual way to find Options.Upstream.
func ParseResolvConf(data []byte) ([]netip.AddrPort, error) { return dns.ParseResolvConf(data) }

// hostIO is the engine's PacketIO: the host's, once Run has it. The
// engine reads and writes packets only while it runs.
type hostIO struct{ r *Runner }

func (h hostIO) ReadPackets(bufs [][]byte, sizes []int) (int, error) {
	return h.r.host.ReadPackets(bufs, sizes)
}

func (h hostIO) WritePackets(pkts [][]byte) error { return h.r.host.WritePackets(pkts) }

func (h hostIO) Close() error { return h.r.host.Close() }

// VirtioNetHdr passes the host's stack.Offloader on. The stack asks once,
// when the engine starts it, which is after Run has the host: a TUN whose
// packets carry a virtio_net_hdr must not look like one whose do not.
func (h hostIO) VirtioNetHdr() bool {
	o, ok := h.r.host.(stack.Offloader)
	return ok && o.VirtioNetHdr()
}

// ConcurrentWrites passes the host's stack.ConcurrentWriter on (a Linux
// TUN: the stack writes VNet's DNS answers itself, issue 12).
func (h hostIO) ConcurrentWrites() bool {
	c, ok := h.r.host.(stack.ConcurrentWriter)
	return ok && c.ConcurrentWrites()
}

// BatchSize passes the host's stack.Batcher on; 0 when it has none.
func (h hostIO) BatchSize() int {
	if b, ok := h.r.host.(stack.Batcher); ok {
		return b.BatchSize()
	}
	return 0
}

// Queues passes the host's stack.MultiQueue on (a multi-queue Linux TUN:
// the stack reads each queue on a goroutine of its own); 1 when it has
// none.
func (h hostIO) Queues() int {
	if m, ok := h.r.host.(stack.MultiQueue); ok {
		return m.Queues()
	}
	return 1
}

// ReadQueue reads queue q of the host's stack.MultiQueue; the stack calls
// it only when Queues is more than 1.
func (h hostIO) ReadQueue(q int, bufs [][]byte, sizes []int) (int, error) {
	return h.r.host.(stack.MultiQueue).ReadQueue(q, bufs, sizes)
}
