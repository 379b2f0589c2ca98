package main

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"strconv"

	"github.com/vishvananda/netlink"
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
	lf := addLogFlags(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if err := lf.check("up"); err != nil {
		return err
	}
	// Its steps go to stdout, for the person who started it (upprint.go):
	// the text log holds only problems unless --debug.
	log := lf.logger(os.Stderr, true)
	f := upFlags{tun: *tunName, dnsMode: *dnsMode, stateDir: *stateDir, metricsAddr: *metricsAddr, mtu: *mtu, ipv6: *ipv6}
	// Root runs the helper and starts the engine as the user; the engine
	// (started so, or by the user with a systemd helper) runs as the user.
	if !isUpLauncher() {
		return runEngine(ctx, f, log)
	}
	if err := checkMetricsAddr(*metricsAddr); err != nil {
		return err
	}
	// One VNet per state directory; the lock goes with the process.
	lock, err := lockPID(*stateDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	return runLauncher(ctx, f, args, log)
}

// isUpLauncher tells whether vnet up runs as the root helper that starts
// the engine, rather than as the engine.
func isUpLauncher() bool {
	return os.Getenv(envHelperSocket) == "" && os.Geteuid() == 0
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
