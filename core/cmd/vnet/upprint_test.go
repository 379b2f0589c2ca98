package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/vnet"
)

// TestUpPrintsSteps: `vnet up` tells a person each step in order (the
// device, each catalog or why it has not loaded, the addresses, how DNS
// was configured, "VNet is up" with the apps), then each change; apps of
// the first catalog are listed once, with "VNet is up".
func TestUpPrintsSteps(t *testing.T) {
	var out bytes.Buffer
	p := &upPrinter{w: &out}
	echo := vnet.AppChange{Cluster: "root.test", ClusterID: "proxy.root.test:3080", App: "echo", Name: "echo.company.test", Addr: netip.MustParseAddr("100.64.0.7"), Added: true}
	s := netcfg.Settings{
		TunAddr4: netip.MustParseAddr("100.64.0.1"),
		DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")},
		DNSZones: []string{"company.test"},
		Routes:   []netip.Prefix{netip.MustParsePrefix("100.64.0.0/16")},
	}
	upstream := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:53")}

	p.tunCreated("vnet0", 65000)
	p.Cluster(catalog.ClusterStatus{ID: "proxy.other.test:3080", Name: "(not reached yet)", Error: `rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 10.9.9.9:3080: connect: connection refused"`})
	p.Cluster(catalog.ClusterStatus{ID: "proxy.root.test:3080", Name: "root.test", Connected: true, Apps: 1, Updated: time.Now()})
	p.AppsChanged(vnet.AppChanges{Added: 1, List: []vnet.AppChange{echo}})
	p.applied("vnet0", s, platform.DNSModeResolved, upstream, []vnet.AppStatus{{ClusterID: echo.ClusterID, Cluster: echo.Cluster, Name: "echo", PublicAddr: echo.Name, IPv4: echo.Addr}}, 1)
	live := echo
	live.App, live.Name, live.Addr = "live", "live.company.test", netip.MustParseAddr("100.64.0.8")
	p.AppsChanged(vnet.AppChanges{Added: 1, List: []vnet.AppChange{live}})
	s.DNSZones = append(s.DNSZones, "other.test")
	p.applied("vnet0", s, platform.DNSModeResolved, upstream, nil, 0)
	p.Cluster(catalog.ClusterStatus{ID: "proxy.root.test:3080", Name: "root.test", Apps: 2, Updated: time.Now(), Error: "stream ended"})

	want := []string{
		"TUN device vnet0 created (MTU 65000).",
		"catalog not loaded yet from proxy.other.test:3080: ", // its reason in words, then
		"catalog loaded: 1 apps (cluster root.test, proxy proxy.root.test:3080)",
		"TUN device vnet0: addresses 100.64.0.1; routes 100.64.0.0/16.",
		"DNS configured with systemd-resolved: company.test go to VNet's DNS at 100.64.0.2; other names as before.",
		"VNet is up: device address 100.64.0.1, DNS at [100.64.0.2] for [company.test], other names forwarded to [10.0.0.1:53].",
		"  echo.company.test ",
		"app available: live.company.test ",
		"VNet's settings changed: routes 100.64.0.0/16; DNS for company.test, other.test.",
		"catalog of root.test (proxy.root.test:3080) lost: stream ended; ",
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	if strings.Contains(out.String(), "rpc error") || strings.Contains(out.String(), "desc =") {
		t.Errorf("gRPC's framing reached the person:\n%s", out.String())
	}
}

// TestUpPrintsDNSModes: each way VNet's helper configures DNS is said.
func TestUpPrintsDNSModes(t *testing.T) {
	s := netcfg.Settings{TunAddr4: netip.MustParseAddr("100.64.0.1"), DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")}, DNSZones: []string{"company.test"}}
	for mode, want := range map[string]string{
		platform.DNSModeResolved:   "DNS configured with systemd-resolved: company.test go to VNet's DNS at 100.64.0.2",
		platform.DNSModeResolvConf: "DNS configured in /etc/resolv.conf: every name goes to VNet's DNS at 100.64.0.2, which answers company.test",
		platform.DNSModeNone:       "DNS left as it is (--dns-mode none): ask VNet's DNS at 100.64.0.2 for company.test",
	} {
		var out bytes.Buffer
		(&upPrinter{w: &out}).applied("vnet0", s, mode, nil, nil, 0)
		if !strings.Contains(out.String(), want) {
			t.Errorf("%s:\n%s\nwant %q", mode, out.String(), want)
		}
	}
}

// TestUpPrintsFirstApps: with more apps than it lists, "VNet is up" lists
// the first it is given and says how many more there are.
func TestUpPrintsFirstApps(t *testing.T) {
	var out bytes.Buffer
	s := netcfg.Settings{TunAddr4: netip.MustParseAddr("100.64.0.1")}
	apps := []vnet.AppStatus{
		{Cluster: "root.test", Name: "a", PublicAddr: "a.company.test", IPv4: netip.MustParseAddr("100.64.0.7")},
		{Cluster: "root.test", Name: "b", PublicAddr: "b.company.test", IPv4: netip.MustParseAddr("100.64.0.8")},
	}
	(&upPrinter{w: &out}).applied("vnet0", s, platform.DNSModeNone, nil, apps, 100000)
	for _, want := range []string{"  a.company.test ", "  b.company.test ", "  ... and 99998 more apps: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("want %q in:\n%s", want, out.String())
		}
	}
}
