// Package vnet is the engine: it wires the netstack, the DNS server, the
// address allocator, the catalog and the tunnel into one VNet that runs over
// a PacketIO. It knows nothing about the OS; settings for the OS leave it as
// one netcfg.Settings value. Open and Run (runner.go) are the one way to
// start it: what differs per OS is a Host.
package vnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
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

// Dialer reaches an app of a cluster: in production through the tunnel of
// the logged-in cluster that reaches it.
type Dialer interface {
	DialApp(ctx context.Context, t AppTarget) (net.Conn, error)
}

// AppTarget is one connection's destination.
type AppTarget struct {
	ClusterID string // who the app's cluster is (catalog.Cluster.ID)
	Cluster   string // the name it reports: tells Via's proxy which leaf to go to
	// Via is the ID of the profile whose proxy reaches the cluster
	// (ClusterID itself for a root). A dial goes through Via's tunnel
	// only, whatever name the cluster reports.
	Via        string
	App        string
	Port       uint16 // the port the client used
	ClientAddr string // for the audit log
}

// Config is what the engine needs.
type Config struct {
	IO       stack.PacketIO   // never nil
	Catalog  *catalog.Catalog // never nil; the engine runs it
	Dialer   Dialer           // never nil
	Upstream dns.Upstream     // never nil: where names that are not VNet's go
	// ApplySettings asks the OS to route VNet's addresses and DNS zones to
	// IO. Called once the catalog is known, and again whenever what it
	// asks for changes. An error is logged, shown in Status and retried
	// every few seconds until it succeeds.
	ApplySettings func(context.Context, netcfg.Settings) error
	// ULA is this machine's IPv6 prefix (a /64 from ipam.NewULAPrefix,
	// kept across runs). Invalid: IPv6 is off.
	ULA netip.Prefix
	// Protected are the prefixes a cluster's range may never cover: the
	// proxies' and upstream resolvers' addresses and the host's local
	// networks (catalog.CheckRange). Called at every catalog change, so
	// it may follow the host's routes; nil: none.
	Protected   func() []netip.Prefix
	MTU         int           // default 1500
	DNSTTL      uint32        // default DefaultDNSTTL
	NegativeTTL time.Duration // longest a negative upstream answer in VNet's zones is cached; default 5s
	DialTimeout time.Duration // bounds a tunnel dial; default 10s
	Logger      *slog.Logger

	// AddressSecret keys where apps' virtual addresses lie
	// (LoadOrCreateSecret, ipam.NewKeyed). Empty: addresses anyone can
	// compute from the names, as tests want.
	AddressSecret []byte
	// Metrics gets what the engine does (metrics.go); nil: nothing.
	Metrics Metrics
	// Progress hears what a person wants to see (progress.go); nil:
	// nothing.
	Progress Progress
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
	case c.ULA.IsValid() && (c.ULA.Bits() != 64 || !c.ULA.Addr().Is6()):
		return fmt.Errorf("vnet: ULA prefix %s is not an IPv6 /64", c.ULA)
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
	if c.NegativeTTL == 0 {
		c.NegativeTTL = 5 * time.Second
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
	cfg      Config
	log      *slog.Logger
	addrs    *addressBook       // never nil
	failures failures           // last failed dial per app, for status and diag
	upstream *dns.NegativeCache // never nil; wraps cfg.Upstream
	metrics  Metrics            // never nil: cfg.Metrics or nopMetrics
	progress Progress           // never nil: cfg.Progress or nopProgress
	told     map[string]told    // by login ID: what progress last heard; Run's goroutine only

	mu       sync.Mutex
	settings netcfg.Settings   // guarded by mu; what the OS was last asked for
	started  time.Time         // guarded by mu
	problems []string          // guarded by mu; what the last catalog change could not do
	refused  []catalog.Refusal // guarded by mu; ranges refused at the last change
}

// New returns an engine ready to Run.
func New(cfg Config) (*Engine, error) {
	if err := cfg.CheckAndSetDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger, addrs: newAddressBook()}
	e.addrs.secret = cfg.AddressSecret
	if e.metrics = cfg.Metrics; e.metrics == nil {
		e.metrics = nopMetrics{}
	}
	if e.progress = cfg.Progress; e.progress == nil {
		e.progress = nopProgress{}
	}
	guarded := dns.NewRebindGuard(cfg.Upstream, e.ownsAddr, cfg.Logger)
	e.upstream = dns.NewNegativeCache(guarded, func(name string) bool {
		return e.cfg.Catalog.Current().Captures(name)
	}, cfg.NegativeTTL)
	return e, nil
}

// Run follows the catalog, starts the netstack and the DNS server on it,
// asks the OS for its settings and serves until ctx is done or the packet
// I/O fails. Catalog changes reach addresses, DNS and the OS settings
// without a restart.
func (e *Engine) Run(ctx context.Context) error {
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error // guarded by errMu: why the run ended, if not ctx
	)
	defer wg.Wait() // last: after cancel and the closes below
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", name, err)
				}
				errMu.Unlock()
			}
			cancel()
		}()
	}
	run("catalog", func() error { e.cfg.Catalog.Run(ctx); return nil })
	snap, err := e.firstOffer(ctx) // wait.go
	if err != nil {
		return err
	}
	// The device's and the DNS server's addresses come from the first
	// accepted range at start and stay for the whole run, even if that
	// range changes (its /32s stay routed); apps follow range changes.
	root, err := e.baseRange(snap)
	if err != nil {
		return err
	}
	e.addrs.reserve(ipam.TunAddr(root), ipam.DNSAddr(root))
	base := netcfg.Settings{
		TunAddr4: ipam.TunAddr(root),
		DNSAddrs: []netip.Addr{ipam.DNSAddr(root)},
		MTU:      e.cfg.MTU,
	}
	if e.cfg.ULA.IsValid() {
		base.TunAddr6 = ipam.TunAddr6(e.cfg.ULA)
		base.DNSAddrs = append(base.DNSAddrs, ipam.DNSAddr6(e.cfg.ULA))
	}

	st, err := stack.New(stack.Config{
		IO:        e.cfg.IO,
		MTU:       uint32(e.cfg.MTU),
		Addresses: base.DNSAddrs,
		HandleTCP: e.handleTCP,
		Logger:    e.log,
	})
	if err != nil {
		return fmt.Errorf("start netstack: %w", err)
	}
	defer st.Close()
	names, upstream := e.dnsSources() // metrics.go
	dnsSrv, err := dns.NewServer(dns.Config{Resolver: names, Upstream: upstream, Logger: e.log})
	if err != nil {
		return err
	}
	defer dnsSrv.Close()
	// DNS over UDP is answered on the netstack's packet path, without a
	// socket (stack.HandleUDP): most of a query's cost was the socket's
	// queue and hand-over (issue 12).
	dnsUDP, err := dnsSrv.ServeDatagrams(ctx, st.WriteUDP)
	if err != nil {
		return err
	}
	defer dnsUDP.Close()
	for _, a := range base.DNSAddrs {
		if err := st.HandleUDP(netip.AddrPortFrom(a, 53), dnsUDP.Handle); err != nil {
			return fmt.Errorf("listen dns/udp %s: %w", a, err)
		}
		tcp, err := st.ListenTCP(netip.AddrPortFrom(a, 53))
		if err != nil {
			return fmt.Errorf("listen dns/tcp %s: %w", a, err)
		}
		run("dns/tcp", func() error { return dnsSrv.ServeTCP(ctx, tcp) })
	}
	run("netstack", func() error { return st.Run(ctx) })

	e.mu.Lock()
	e.started = time.Now()
	e.mu.Unlock()
	// The change signals so far are all in the current snapshot: take it
	// and start from there, rather than reconcile (and flush the negative
	// cache) again for changes already seen.
	select {
	case <-e.cfg.Catalog.Changed():
	default:
	}
	// A failed ApplySettings is retried on a timer too, not only at the
	// next catalog change: the OS may have been busy for a moment.
	retry := time.NewTimer(0)
	retry.Stop()
	defer retry.Stop()
	force := true
	for {
		if !e.reconcile(ctx, base, e.cfg.Catalog.Current(), force) {
			retry.Reset(applyRetry)
		}
		select {
		case <-ctx.Done():
			cancel()
			wg.Wait()
			errMu.Lock()
			defer errMu.Unlock()
			return firstErr // nil when ctx ended the run
		case <-e.cfg.Catalog.Changed():
			force = false
		case <-retry.C:
			force = true
		}
	}
}

// baseRange is the range the device's and the DNS server's addresses come
// from: the first accepted one.
func (e *Engine) baseRange(snap *catalog.Snapshot) (netip.Prefix, error) {
	ranges, refused := snap.AcceptRanges(e.protected())
	for _, c := range snap.Clusters {
		if r, ok := ranges[c.ID]; ok {
			return r, nil
		}
	}
	why := "no cluster has a range"
	if len(refused) > 0 {
		why = refused[0].String()
	}
	return netip.Prefix{}, fmt.Errorf("no cluster's range can be used: %s", why)
}

func (e *Engine) protected() []netip.Prefix {
	if e.cfg.Protected == nil {
		return nil
	}
	return e.cfg.Protected()
}

// logChanges logs each app's arrival or departure, or, when too many
// changed to be listed (AppChanges), how many.
func logChanges(log *slog.Logger, changes AppChanges) {
	if changes.Len() > MaxListedChanges {
		log.Info("apps changed", "available", changes.Added, "gone", changes.Gone)
		return
	}
	for _, c := range changes.List {
		if c.Added {
			log.Info("app available", "app", c.App, "cluster", c.Cluster, "id", c.ClusterID, "name", c.Name, "ipv4", c.Addr)
		} else {
			log.Info("app gone", "app", c.App, "cluster", c.Cluster, "id", c.ClusterID, "name", c.Name, "ipv4", c.Addr)
		}
	}
}

// applyRetry is how soon a failed ApplySettings is tried again.
const applyRetry = 5 * time.Second

// reconcile brings addresses, the negative cache and the OS settings in
// line with snap; force applies the settings even if they look unchanged.
// It reports whether the OS took the settings.
func (e *Engine) reconcile(ctx context.Context, base netcfg.Settings, snap *catalog.Snapshot, force bool) bool {
	var problems []string
	e.reportClusters()
	ranges, refused := snap.AcceptRanges(e.protected())
	for _, r := range refused {
		e.log.Warn("range refused", "cluster", r.ClusterName, "id", r.Cluster, "range", r.Claim, "why", r.Reason)
	}
	changes, errs := e.addrs.sync(snap, ranges)
	for _, err := range errs {
		e.log.Warn("app left out", "err", err)
		problems = append(problems, err.Error())
	}
	logChanges(e.log, changes)
	e.reportApps(changes)
	e.upstream.Flush()
	for _, r := range snap.Refused {
		e.log.Debug("refused", "claim", r.String())
	}
	s := settingsFor(base, snap, ranges, e.cfg.ULA)
	e.mu.Lock()
	same := !force && s.Equal(e.settings)
	e.mu.Unlock()
	applied := true
	if !same {
		if err := e.cfg.ApplySettings(ctx, s); err != nil {
			applied = false
			e.log.Error("configure the OS; retrying", "err", err, "in", applyRetry)
			problems = append(problems, "configure the OS: "+err.Error())
		} else {
			e.mu.Lock()
			e.settings = s
			e.mu.Unlock()
			e.log.Info("VNet is up", "tun", s.TunAddr4, "dns", s.DNSAddrs, "zones", s.DNSZones, "routes", s.Routes)
		}
	}
	e.mu.Lock()
	e.problems, e.refused = problems, refused
	e.mu.Unlock()
	return applied
}

// settingsFor is what the OS must do for snap: route every accepted range
// (and the device's own DNS address, should its range have moved) and the
// ULA prefix to the device, and send every accepted domain's queries to
// VNet. A refused range is never routed.
func settingsFor(base netcfg.Settings, snap *catalog.Snapshot, ranges map[string]netip.Prefix, ula netip.Prefix) netcfg.Settings {
	s := base
	for _, c := range snap.Clusters {
		if r, ok := ranges[c.ID]; ok && !slices.Contains(s.Routes, r) {
			s.Routes = append(s.Routes, r)
		}
	}
	if dns4 := base.DNSAddrs[0]; !slices.ContainsFunc(s.Routes, func(p netip.Prefix) bool { return p.Contains(dns4) }) {
		s.Routes = append(s.Routes, netip.PrefixFrom(dns4, 32))
	}
	if ula.IsValid() {
		s.Routes = append(s.Routes, ula)
	}
	s.DNSZones = snap.Domains()
	return s
}
