package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// upstreamTimeout bounds a forwarded query: a dead upstream yields
// SERVFAIL after this long, never a hang.
const upstreamTimeout = 3 * time.Second

// runUp runs VNet in the foreground until SIGINT or SIGTERM, then undoes
// every change it made to the OS.
func runUp(ctx context.Context, args []string) error {
	fs := newFlags("up", "sudo vnet up [--tun vnet0] [--dns-mode auto|systemd-resolved|resolv.conf|none] [--mtu 65000]")
	tunName := fs.String("tun", "vnet0", "name of the TUN device to create")
	dnsMode := fs.String("dns-mode", "auto", "how to send DNS to VNet: systemd-resolved (split DNS: only VNet's zones), resolv.conf (point /etc/resolv.conf at VNet, which forwards the rest), none, or auto (systemd-resolved where it runs, else resolv.conf)")
	// VNet ends TCP in its own stack instead of carrying packets over a
	// network, so the device's MTU is not bound by any path: large packets
	// cut per-packet work (iperf3 through VNet: 0.8 Gbit/s at 1500, 2.1 at
	// 65000; see docs/benchmarks.md).
	mtu := fs.Int("mtu", 65000, "MTU of the TUN device")
	ipv6 := fs.Bool("ipv6", true, "answer AAAA and route a per-machine IPv6 ULA prefix")
	stateDir := fs.String("state-dir", "/var/lib/vnet/client", "where VNet keeps this machine's state (its IPv6 prefix)")
	debug := fs.Bool("debug", false, "verbose logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("vnet up needs root to create a TUN device: run it with sudo")
	}
	log := newLogger(*debug, os.Stderr)
	profiles, err := profile.LoadAll(profile.Home())
	if err != nil {
		return err
	}

	// Learn the upstream resolvers before VNet replaces them; a VNet that
	// died may have left its own resolv.conf, which carries the original.
	const resolvConf = "/etc/resolv.conf"
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
	servers, err := dns.ParseResolvConf(orig)
	if err != nil {
		return fmt.Errorf("%s: %w", upstreamConf, err)
	}
	upstream, err := dns.NewForwarder(servers, upstreamTimeout)
	if err != nil {
		return err
	}

	var ula netip.Prefix
	if err := os.MkdirAll(*stateDir, 0o755); err != nil {
		return err
	}
	if *ipv6 {
		if ula, err = vnet.LoadOrCreateULA(filepath.Join(*stateDir, "ula-prefix")); err != nil {
			return err
		}
	}
	secret, err := vnet.LoadOrCreateSecret(filepath.Join(*stateDir, "address-secret"))
	if err != nil {
		return err
	}

	clusters, err := vnet.Connect(profiles)
	if err != nil {
		return err
	}
	defer clusters.Close()
	clusters.SetLogger(log)
	// Addresses no cluster's range may cover: the upstream resolvers here,
	// the proxies' in clusters (resolved as each login is added).
	upstreamPrefixes := vnet.AddrPrefixes(servers)
	cat, err := catalog.New(clusters.Logins(), log)
	if err != nil {
		return err
	}
	tun, err := platform.OpenTUN(*tunName, *mtu)
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

	var eng *vnet.Engine
	eng, err = vnet.New(vnet.Config{
		IO:       tun,
		Catalog:  cat,
		Dialer:   clusters,
		Upstream: upstream,
		ULA:      ula,
		MTU:      *mtu,
		Logger:   log,
		Protected: func() []netip.Prefix {
			return slices.Concat(clusters.ProxyPrefixes(), upstreamPrefixes, localRoutes(tun.Name(), log))
		},
		ApplySettings: func(ctx context.Context, s netcfg.Settings) error {
			if err := osConf.Apply(ctx, s); err != nil {
				return err
			}
			printUp(eng, s, servers)
			return nil
		},
		AddressSecret: secret,
	})
	if err != nil {
		return err
	}
	ctl, err := control.Listen(filepath.Join(*stateDir, control.SocketName), sudoID("SUDO_UID"), sudoID("SUDO_GID"), control.Handlers{
		Status: func() any { return eng.Status() },
		// What VNet depends on; `vnet diag NAME` follows the name itself,
		// from the asking process, as any client would.
		Diag: func(ctx context.Context) any {
			return diag.Run(ctx, diag.Env{
				Status:   eng.Status,
				Profiles: clusters.Profiles(),
				Clusters: diag.FetchersOf(clusters.Logins()),
				Upstream: upstream,
				Now:      time.Now(),
			}, "", 0)
		},
	})
	if err != nil {
		return err
	}
	defer ctl.Close()
	// Logins, re-logins and logouts reach the running VNet.
	fctx, stopFollow := context.WithCancel(ctx)
	following := make(chan struct{})
	go func() {
		defer close(following)
		clusters.Follow(fctx, profile.Home(), cat)
	}()
	defer func() { stopFollow(); <-following }()
	err = eng.Run(ctx)
	fmt.Println("VNet stopped; network settings restored.")
	return err
}

// printUp tells the person at the terminal what VNet now does; it runs at
// start and after every change of settings.
func printUp(eng *vnet.Engine, s netcfg.Settings, upstreams any) {
	fmt.Printf("VNet is up: device address %s, DNS at %v for %v, other names forwarded to %v.\n", s.TunAddr4, s.DNSAddrs, s.DNSZones, upstreams)
	for _, a := range eng.Status().Apps {
		if a.IPv4.IsValid() {
			fmt.Printf("  %-28s %-16s %-28s (%s/%s at %s)\n", a.PublicAddr, a.IPv4, a.IPv6, a.Cluster, a.Name, a.ClusterID)
		}
	}
}

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
