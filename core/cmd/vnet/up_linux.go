package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// runUp runs VNet in the foreground until SIGINT or SIGTERM, then undoes
// every change it made to the OS.
func runUp(ctx context.Context, args []string) error {
	fs := newFlags("up")
	tunName := fs.String("tun", "vnet0", "name of the TUN device to create")
	dnsMode := fs.String("dns-mode", "auto", "how to send DNS to VNet: systemd-resolved (split DNS: only VNet's zones), resolv.conf (point /etc/resolv.conf at VNet, which forwards the rest), none, or auto (systemd-resolved where it runs, else resolv.conf)")
	// VNet ends TCP in its own stack instead of carrying packets over a
	// network, so the device's MTU is not bound by any path: large packets
	// cut per-packet work (iperf3 through VNet: 0.8 Gbit/s at 1500, 2.1 at
	// 65000; see docs/benchmarks.md).
	mtu := fs.Int("mtu", 65000, "MTU of the TUN device")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, ADDR a loopback host:port such as 127.0.0.1:9464 (docs/metrics.md); empty: off")
	ipv6 := fs.Bool("ipv6", true, "answer AAAA and route a per-machine IPv6 ULA prefix")
	stateDir := fs.String("state-dir", defaultStateDir, "where VNet keeps this machine's state (its IPv6 prefix)")
	debug := fs.Bool("debug", false, "verbose logs")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("vnet up needs root to create a TUN device: run it with sudo")
	}
	// One VNet per state directory; the lock goes with the process.
	lock, err := lockPID(*stateDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	log := newLogger(*debug, os.Stderr)
	setUpMemoryLimit()                           // upmem_linux.go
	um, err := startUpMetrics(*metricsAddr, log) // upmetrics_linux.go: before anything changes
	if err != nil {
		return err
	}
	defer um.Close()

	// Learn the upstream resolvers before VNet replaces them; a VNet that
	// died may have left its own resolv.conf, which carries the original.
	resolvConf := platform.DefaultResolvConfPath
	if *dnsMode == "auto" {
		*dnsMode = platform.DetectDNSMode(resolvConf)
	}
	if err := platform.RestoreStale(resolvConf); err != nil {
		return err
	}
	upstreamConf := platform.UpstreamResolvConf(*dnsMode, resolvConf)
	orig, err := platform.OriginalResolvConf(upstreamConf)
	if err != nil {
		return err
	}
	servers, err := vnet.ParseResolvConf(orig)
	if err != nil {
		return fmt.Errorf("%s: %w", upstreamConf, err)
	}

	// Every option is checked here, before the TUN device exists.
	opts := vnet.Options{
		ProfileDir: profile.Home(),
		StateDir:   *stateDir,
		Upstream:   servers,
		MTU:        *mtu,
		HostMTU:    vnet.MTURange{Min: platform.MinMTU, Max: platform.MaxMTU, Who: "the TUN device"},
		IPv6:       *ipv6,
		Logger:     log,
		Metrics:    um.engine(),
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
	tun, err := platform.OpenTUN(*tunName, opts.MTU)
	if err != nil {
		return err
	}
	defer tun.Close()
	osConf, err := platform.NewConfigurator(platform.Config{TunName: tun.Name(), DNSMode: *dnsMode, ResolvConfPath: resolvConf, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		if err := osConf.Close(); err != nil {
			log.Error("restore network settings", "err", err)
		}
	}()

	ctl, err := control.Listen(filepath.Join(*stateDir, control.SocketName), sudoID("SUDO_UID"), sudoID("SUDO_GID"), control.Handlers{
		Status: func() any { return r.Status() },
		// What VNet depends on; `vnet diag NAME` follows the name itself,
		// from the asking process, as any client would.
		Diag: func(ctx context.Context) any {
			return diag.Run(ctx, diag.Of(r, time.Now()), "", 0)
		},
	})
	if err != nil {
		return err
	}
	defer ctl.Close()
	err = r.Run(ctx, &linuxHost{TUN: tun, conf: osConf, runner: r, log: log})
	fmt.Fprintln(stdout, "VNet stopped; network settings restored.")
	return err
}

// linuxHost is VNet's host on Linux: the TUN device carries the packets,
// netlink and the DNS mode's configurator put the settings in force.
type linuxHost struct {
	*platform.TUN
	conf   *platform.Configurator
	runner *vnet.Runner
	log    *slog.Logger
}

func (h *linuxHost) ApplySettings(ctx context.Context, s netcfg.Settings) error {
	if err := h.conf.Apply(ctx, s); err != nil {
		return err
	}
	printUp(h.runner, s)
	return nil
}

// LocalPrefixes are the host's connected networks, which a cluster's range
// must not take over.
func (h *linuxHost) LocalPrefixes() []netip.Prefix { return localRoutes(h.Name(), h.log) }

// printUp tells the person at the terminal what VNet now does; it runs at
// start and after every change of settings.
func printUp(r *vnet.Runner, s netcfg.Settings) {
	fmt.Fprintf(stdout, "VNet is up: device address %s, DNS at %v for %v, other names forwarded to %v.\n", s.TunAddr4, s.DNSAddrs, s.DNSZones, r.Options().Upstream)
	shown, more := 0, 0
	for _, a := range r.Status().Apps {
		switch {
		case !a.IPv4.IsValid():
		case shown == maxPrintedApps:
			more++
		default:
			shown++
			fmt.Fprintf(stdout, "  %-28s %-16s %-28s (%s/%s at %s)\n", a.PublicAddr, a.IPv4, a.IPv6, a.Cluster, a.Name, a.ClusterID)
		}
	}
	if more > 0 {
		fmt.Fprintf(stdout, "  ... and %d more apps: vnet status lists them all.\n", more)
	}
}

// maxPrintedApps bounds the apps printUp lists: a catalog of 100,000
// apps is for vnet status, not the terminal.
const maxPrintedApps = 50

// localRoutes are the host's connected (on-link), non-default IPv4 routes,
// except VNet's own on dev: networks a cluster's range must not take over.
func localRoutes(dev string, log *slog.Logger) []netip.Prefix {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		log.Warn("list the host's routes to keep ranges off them", "err", err)
		return nil
	}
	own := -1
	if l, err := netlink.LinkByName(dev); err == nil {
		own = l.Attrs().Index
	}
	var out []netip.Prefix
	for _, r := range routes {
		if r.Dst == nil || r.Scope != netlink.SCOPE_LINK || r.LinkIndex == own {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP.To4())
		if !ok || ones == 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(a, ones).Masked())
	}
	return out
}

// sudoID is the invoking user's uid or gid under sudo, or -1.
func sudoID(env string) int {
	id, err := strconv.Atoi(os.Getenv(env))
	if err != nil {
		return -1
	}
	return id
}
