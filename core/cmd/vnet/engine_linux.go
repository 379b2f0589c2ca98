package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/privsep"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// What `sudo vnet up` tells the engine it starts as the user.
const (
	// envHelperSocket is the helper's socket for this engine alone; without
	// it the engine looks for a helper run by systemd at
	// privsep.DefaultSocket.
	envHelperSocket = "VNET_HELPER_SOCKET"
	// envControlFD is the descriptor of the control socket made by root in
	// the state directory, for `vnet status` and `vnet diag`.
	envControlFD = "VNET_CONTROL_FD"
)

// upFlags are `vnet up`'s options, for the launcher and for the engine.
type upFlags struct {
	tun, dnsMode, stateDir, metricsAddr string
	mtu                                 int
	ipv6                                bool
}

// runEngine is VNet's engine: it holds the user's logins and runs as the
// user; VNet's root helper opens the TUN device and changes the OS for it.
// It stops when ctx ends or when the helper goes.
func runEngine(ctx context.Context, f upFlags, log *slog.Logger) error {
	path := os.Getenv(envHelperSocket)
	if path == "" {
		path = privsep.DefaultSocket
	}
	go trimWhenIdle(ctx) // uptrim_linux.go: memory back to the OS when idle
	limitMemory(ctx)     // upmem_linux.go: the heap's headroom under load
	// The metrics are the engine's; a bad or busy address changes nothing.
	um, err := startUpMetrics(f.metricsAddr, log) // upmetrics_linux.go
	if err != nil {
		return err
	}
	defer um.Close()
	helper, err := privsep.Dial(ctx, path)
	if err != nil {
		return fmt.Errorf("%w (start VNet with 'sudo vnet up', or enable vnet-helper.socket)", err)
	}
	defer helper.Close()

	progress := &upPrinter{w: stdout} // upprint.go: the steps, for the person at the terminal
	// The upstream resolvers are those in force before VNet: the helper
	// has already put back what a VNet that died left.
	upstreamConf := platform.UpstreamResolvConf(helper.DNSMode(), platform.DefaultResolvConfPath)
	orig, err := platform.OriginalResolvConf(upstreamConf)
	if err != nil {
		return err
	}
	servers, err := vnet.ParseResolvConf(orig)
	if err != nil {
		return fmt.Errorf("%s: %w", upstreamConf, err)
	}
	// The machine's state (address secret, IPv6 prefix) is the user's own
	// when the engine is not root: root's folder stays root's.
	stateDir := f.stateDir
	if os.Geteuid() != 0 {
		stateDir = userStateDir() // controlsock.go
	}
	opts := vnet.Options{
		ProfileDir: profile.Home(),
		StateDir:   stateDir,
		Upstream:   servers,
		MTU:        f.mtu,
		HostMTU:    vnet.MTURange{Min: platform.MinMTU, Max: platform.MaxMTU, Who: "the TUN device"},
		IPv6:       f.ipv6,
		Logger:     log,
		Metrics:    um.engine(),
		Progress:   progress,
	}
	if err := opts.CheckAndSetDefaults(); err != nil {
		return err
	}
	r, err := vnet.Open(opts)
	if err != nil {
		return err
	}
	defer r.Close()
	um.follow(r)
	queues, err := tunQueues() // tunqueues_linux.go
	if err != nil {
		return err
	}
	tun, _, err := helper.OpenTUN(ctx, f.tun, opts.MTU, queues)
	if err != nil {
		return err
	}
	defer tun.Close()
	log.Info("TUN device created", "name", tun.Name(), "mtu", opts.MTU, "queues", tun.Queues())
	progress.tunCreated(tun.Name(), opts.MTU)

	ctl, err := engineControl(stateDir, control.Handlers{
		Status: func() any { return guardStatus(r.Status(), helper) },
		Diag: func(ctx context.Context) any {
			d := diag.Run(ctx, diag.Of(r, time.Now()), "", 0)
			d.Checks = append(d.Checks, guardCheck(tun.Name(), helper))
			return d
		},
	})
	if err != nil {
		return err
	}
	defer ctl.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-helper.Done():
			log.Error("VNet's helper is gone: stopping (its settings are undone)")
			cancel()
		case <-ctx.Done():
		}
	}()
	err = r.Run(ctx, &helperHost{TUN: tun, helper: helper, runner: r, log: log, progress: progress})
	fmt.Fprintln(stdout, "VNet stopped; network settings restored.")
	return err
}

// engineControl serves the control socket root made (envControlFD), or,
// for an engine a systemd helper serves, one in its own state folder.
func engineControl(stateDir string, h control.Handlers) (*control.Server, error) {
	s := os.Getenv(envControlFD)
	if s == "" {
		return control.Listen(filepath.Join(stateDir, control.SocketName), -1, -1, h)
	}
	fd, err := strconv.Atoi(s)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", envControlFD, s, err)
	}
	f := os.NewFile(uintptr(fd), "control socket")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The socket file is root's, in root's folder: root removes it.
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	return control.Serve(ln, h), nil
}

// helperHost is VNet's host when a root helper changes the OS: the TUN
// device it opened carries the packets, the settings go to it.
type helperHost struct {
	*platform.TUN
	helper   *privsep.Client
	runner   *vnet.Runner
	log      *slog.Logger
	progress *upPrinter
	up       bool // the first settings were applied: VNet is up
}

func (h *helperHost) ApplySettings(ctx context.Context, s netcfg.Settings) error {
	if err := h.helper.Apply(ctx, s); err != nil {
		return err
	}
	h.log.Info("DNS configured", "mode", h.helper.DNSMode(), "servers", s.DNSAddrs, "zones", s.DNSZones)
	if h.up {
		h.progress.applied(h.Name(), s, h.helper.DNSMode(), h.runner.Options().Upstream, nil, 0)
		return nil
	}
	// The first time: "VNet is up" with the first apps (a walk over every
	// app, done once).
	apps, addressed := h.runner.FirstApps(maxPrintedApps)
	h.progress.applied(h.Name(), s, h.helper.DNSMode(), h.runner.Options().Upstream, apps, addressed)
	// The first load's garbage (the catalog's messages and the lists
	// built from them over every app) is dead now that VNet is up, and
	// the collector's next goal was set while it was live. Once per run,
	// not churn: later changes are small and the idle trim
	// (uptrim_linux.go) takes care of them. ApplySettings is called from
	// the engine's run only; the trim (two collections) runs beside it.
	h.up = true
	go trimMemory()
	return nil
}

// LocalPrefixes are the host's connected networks (reading routes needs
// no privilege).
func (h *helperHost) LocalPrefixes() []netip.Prefix { return localRoutes(h.Name(), h.log) }

// guardStatus adds to st, as a problem, that the helper could not keep
// other local users from sending through VNet's device.
func guardStatus(st vnet.Status, helper *privsep.Client) vnet.Status {
	if why := helper.Unguarded(); why != "" {
		st.Problems = append(st.Problems, why)
	}
	return st
}

// guardCheck is `vnet diag`'s finding about the device's guard.
func guardCheck(dev string, helper *privsep.Client) diag.Check {
	if why := helper.Unguarded(); why != "" {
		return diag.Check{Name: "device guard", Detail: why + "; install nftables and restart VNet"}
	}
	return diag.Check{Name: "device guard", OK: true, Detail: "only your own programs send through " + dev + " (nft table inet " + platform.GuardTable(dev) + ")"}
}
