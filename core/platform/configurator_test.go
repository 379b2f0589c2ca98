package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/netcfg"
)

// recordingOps is a linkOps that records each call as the `ip` command that
// would do the same, and fails the calls listed in fail.
type recordingOps struct {
	calls []string
	fail  map[string]error // call -> error to return
}

func (r *recordingOps) do(call string) error {
	r.calls = append(r.calls, call)
	return r.fail[call]
}

func (r *recordingOps) linkUp(dev string, mtu int) error {
	return r.do(fmt.Sprintf("ip link set %s up mtu %d", dev, mtu))
}
func (r *recordingOps) addrAdd(dev string, p netip.Prefix) error {
	return r.do(fmt.Sprintf("ip addr add %s dev %s", p, dev))
}
func (r *recordingOps) addrDel(dev string, p netip.Prefix) error {
	return r.do(fmt.Sprintf("ip addr del %s dev %s", p, dev))
}
func (r *recordingOps) routeAdd(dev string, p netip.Prefix) error {
	return r.do(fmt.Sprintf("ip route add %s dev %s", p, dev))
}
func (r *recordingOps) routeDel(dev string, p netip.Prefix) error {
	return r.do(fmt.Sprintf("ip route del %s dev %s", p, dev))
}

// take returns the calls since the last take.
func (r *recordingOps) take() []string {
	c := r.calls
	r.calls = nil
	return c
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func settings(addr4, addr6 string, mtu int, routes ...string) netcfg.Settings {
	s := netcfg.Settings{TunAddr4: netip.MustParseAddr(addr4), MTU: mtu}
	if addr6 != "" {
		s.TunAddr6 = netip.MustParseAddr(addr6)
		s.DNSAddrs = append(s.DNSAddrs, s.TunAddr6.Next())
	}
	s.DNSAddrs = append([]netip.Addr{s.TunAddr4.Next()}, s.DNSAddrs...)
	for _, r := range routes {
		s.Routes = append(s.Routes, netip.MustParsePrefix(r))
	}
	return s
}

// step is one call on a Configurator and what it must do.
type step struct {
	name    string
	apply   *netcfg.Settings // nil: Close
	fail    map[string]error // calls that fail during this step
	wantOps []string
	wantErr error // matched with errors.Is; errAny for any error
	// wantDNS is the nameservers resolv.conf must point at afterwards;
	// nil means the original must be in place.
	wantDNS []string
}

var errAny = errors.New("any error")

func ptr[T any](v T) *T { return &v }

// TestConfiguratorTranscript drives Apply / Apply again / Close against the
// recording fake and a temporary resolv.conf.
func TestConfiguratorTranscript(t *testing.T) {
	base := settings("100.64.0.1", "fd00:aa::1", 1400, "100.64.0.0/10", "fd00:aa::/64")
	errNoDev := errors.New("no such device")
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "apply, reapply unchanged, change routes, close twice",
			steps: []step{
				{
					name:  "first apply",
					apply: &base,
					wantOps: []string{
						"ip link set vnet0 up mtu 1400",
						"ip addr add 100.64.0.1/32 dev vnet0",
						"ip addr add fd00:aa::1/128 dev vnet0",
						"ip route add 100.64.0.0/10 dev vnet0",
						"ip route add fd00:aa::/64 dev vnet0",
					},
					wantDNS: []string{"100.64.0.2", "fd00:aa::2"},
				},
				{name: "same again", apply: &base, wantDNS: []string{"100.64.0.2", "fd00:aa::2"}},
				{
					name:  "a leaf range comes, the IPv6 prefix goes",
					apply: ptr(settings("100.64.0.1", "fd00:aa::1", 1400, "100.64.0.0/10", "10.99.0.0/16")),
					wantOps: []string{
						"ip route add 10.99.0.0/16 dev vnet0",
						"ip route del fd00:aa::/64 dev vnet0",
					},
					wantDNS: []string{"100.64.0.2", "fd00:aa::2"},
				},
				{
					name:    "unmasked and duplicate routes",
					apply:   ptr(settings("100.64.0.1", "fd00:aa::1", 1400, "100.64.0.1/10", "10.99.0.0/16", "10.99.1.1/16")),
					wantDNS: []string{"100.64.0.2", "fd00:aa::2"},
				},
				{
					name: "close",
					wantOps: []string{
						"ip route del 100.64.0.0/10 dev vnet0",
						"ip route del 10.99.0.0/16 dev vnet0",
						"ip addr del 100.64.0.1/32 dev vnet0",
						"ip addr del fd00:aa::1/128 dev vnet0",
					},
				},
				{name: "close again"},
				{name: "apply after close", apply: &base, wantErr: ErrClosed},
			},
		},
		{
			name: "address, MTU and IPv6 change",
			steps: []step{
				{
					name:  "first apply without IPv6",
					apply: ptr(settings("100.64.0.1", "", 0, "100.64.0.0/10")),
					wantOps: []string{
						"ip link set vnet0 up mtu 0",
						"ip addr add 100.64.0.1/32 dev vnet0",
						"ip route add 100.64.0.0/10 dev vnet0",
					},
					wantDNS: []string{"100.64.0.2"},
				},
				{
					name:  "new root range, IPv6 on, MTU set",
					apply: ptr(settings("10.1.0.1", "fd00:aa::1", 1280, "10.1.0.0/16")),
					wantOps: []string{
						"ip link set vnet0 up mtu 1280",
						"ip addr add 10.1.0.1/32 dev vnet0",
						"ip addr add fd00:aa::1/128 dev vnet0",
						"ip addr del 100.64.0.1/32 dev vnet0",
						"ip route add 10.1.0.0/16 dev vnet0",
						"ip route del 100.64.0.0/10 dev vnet0",
					},
					wantDNS: []string{"10.1.0.2", "fd00:aa::2"},
				},
				{
					name: "close",
					wantOps: []string{
						"ip route del 10.1.0.0/16 dev vnet0",
						"ip addr del 10.1.0.1/32 dev vnet0",
						"ip addr del fd00:aa::1/128 dev vnet0",
					},
				},
			},
		},
		{
			name: "failures are retried by the next apply",
			steps: []step{
				{
					name:  "one route fails",
					apply: &base,
					fail:  map[string]error{"ip route add 100.64.0.0/10 dev vnet0": errNoDev},
					wantOps: []string{
						"ip link set vnet0 up mtu 1400",
						"ip addr add 100.64.0.1/32 dev vnet0",
						"ip addr add fd00:aa::1/128 dev vnet0",
						"ip route add 100.64.0.0/10 dev vnet0",
						"ip route add fd00:aa::/64 dev vnet0",
					},
					wantErr: errNoDev,
					wantDNS: []string{"100.64.0.2", "fd00:aa::2"},
				},
				{
					name:    "retry",
					apply:   &base,
					wantOps: []string{"ip route add 100.64.0.0/10 dev vnet0"},
					wantDNS: []string{"100.64.0.2", "fd00:aa::2"},
				},
				{
					name: "close with a failing delete still undoes the rest",
					fail: map[string]error{"ip route del 100.64.0.0/10 dev vnet0": errNoDev},
					wantOps: []string{
						"ip route del fd00:aa::/64 dev vnet0",
						"ip route del 100.64.0.0/10 dev vnet0",
						"ip addr del 100.64.0.1/32 dev vnet0",
						"ip addr del fd00:aa::1/128 dev vnet0",
					},
					wantErr: errNoDev,
				},
			},
		},
		{
			name: "link failure stops apply",
			steps: []step{
				{
					name:    "device missing",
					apply:   &base,
					fail:    map[string]error{"ip link set vnet0 up mtu 1400": errNoDev},
					wantOps: []string{"ip link set vnet0 up mtu 1400"},
					wantErr: errNoDev,
				},
				{name: "close has nothing to undo"},
			},
		},
		{
			name: "invalid settings change nothing",
			steps: []step{
				{name: "no IPv4 address", apply: &netcfg.Settings{}, wantErr: errAny},
				{name: "IPv6 as IPv4", apply: ptr(settings("fd00::1", "", 0)), wantErr: errAny},
				{name: "IPv4 as IPv6", apply: ptr(settings("100.64.0.1", "::ffff:1.2.3.4", 0)), wantErr: errAny},
				{name: "MTU too small", apply: ptr(settings("100.64.0.1", "", 20)), wantErr: errAny},
				{name: "invalid route", apply: &netcfg.Settings{TunAddr4: netip.MustParseAddr("100.64.0.1"), Routes: []netip.Prefix{{}}}, wantErr: errAny},
				{name: "close"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempResolvConf(t, origResolv)
			ops := &recordingOps{}
			c, err := newConfigurator(Config{TunName: "vnet0", DNSMode: DNSModeResolvConf, ResolvConfPath: path, Logger: discardLog}, ops)
			if err != nil {
				t.Fatal(err)
			}
			before, _ := os.Stat(path)
			for _, st := range tt.steps {
				ops.fail = st.fail
				if st.apply != nil {
					err = c.Apply(context.Background(), *st.apply)
				} else {
					err = c.Close()
				}
				switch {
				case st.wantErr == errAny && err == nil:
					t.Errorf("%s: no error, want one", st.name)
				case st.wantErr != errAny && !errors.Is(err, st.wantErr):
					t.Errorf("%s: error = %v, want %v", st.name, err, st.wantErr)
				}
				if got := ops.take(); !slices.Equal(got, st.wantOps) {
					t.Errorf("%s: calls\n\t%s\nwant\n\t%s", st.name, strings.Join(got, "\n\t"), strings.Join(st.wantOps, "\n\t"))
				}
				checkResolvConf(t, st.name, path, st.wantDNS)
			}
			if after, _ := os.Stat(path); !os.SameFile(before, after) {
				t.Error("resolv.conf was replaced instead of written in place")
			}
		})
	}
}

// checkResolvConf checks that path points at nameservers, or holds the
// original byte for byte when nameservers is nil.
func checkResolvConf(t *testing.T, step, path string, nameservers []string) {
	t.Helper()
	got := readFile(t, path)
	if nameservers == nil {
		if got != origResolv {
			t.Errorf("%s: resolv.conf = %q, want the original %q", step, got, origResolv)
		}
		return
	}
	var addrs []netip.Addr
	for _, ns := range nameservers {
		addrs = append(addrs, netip.MustParseAddr(ns))
	}
	if want := string(wrapResolvConf([]byte(origResolv), os.Getpid(), addrs)); got != want {
		t.Errorf("%s: resolv.conf =\n%s\nwant\n%s", step, got, want)
	}
}

func TestConfiguratorDNSModes(t *testing.T) {
	s := settings("100.64.0.1", "", 0, "100.64.0.0/10")
	noDNS := s
	noDNS.DNSAddrs = nil
	tests := []struct {
		name     string
		mode     string
		initial  string            // resolv.conf before Apply
		apply    []netcfg.Settings // applied in order
		between  string            // if set, written to resolv.conf before Close
		wantErr  error             // from the first Apply
		wantMid  func(string) bool
		wantLast string // resolv.conf after Close
	}{
		{
			name: "none touches nothing", mode: DNSModeNone, initial: origResolv,
			apply:   []netcfg.Settings{s},
			wantMid: func(b string) bool { return b == origResolv }, wantLast: origResolv,
		},
		{
			name: "stale file from a dead VNet is taken over", mode: DNSModeResolvConf,
			initial: "stale", apply: []netcfg.Settings{s},
			wantMid: func(b string) bool {
				return strings.Contains(b, "nameserver 100.64.0.2\n") && strings.Count(b, "Generated by VNet") == 1
			},
			wantLast: origResolv,
		},
		{
			name: "no DNS addresses restores the original", mode: DNSModeResolvConf,
			initial: origResolv, apply: []netcfg.Settings{s, noDNS},
			wantMid: func(b string) bool { return b == origResolv }, wantLast: origResolv,
		},
		{
			name: "file replaced while running is left alone", mode: DNSModeResolvConf,
			initial: origResolv, apply: []netcfg.Settings{s}, between: "nameserver 192.0.2.1\n",
			wantMid: func(b string) bool { return isVNetResolvConf([]byte(b)) }, wantLast: "nameserver 192.0.2.1\n",
		},
		{
			name: "file of a running VNet is not taken over", mode: DNSModeResolvConf,
			initial: "live", apply: []netcfg.Settings{s}, wantErr: ErrResolvConfInUse,
			wantMid: func(b string) bool { return strings.Contains(b, "nameserver 100.64.0.99\n") },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			initial := tt.initial
			switch initial {
			case "stale":
				initial = string(wrapResolvConf([]byte(origResolv), deadPID(t), []netip.Addr{netip.MustParseAddr("100.64.0.99")}))
			case "live":
				initial = string(wrapResolvConf([]byte(origResolv), holdPID(t, true), []netip.Addr{netip.MustParseAddr("100.64.0.99")}))
			}
			path := tempResolvConf(t, initial)
			c, err := newConfigurator(Config{TunName: "vnet0", DNSMode: tt.mode, ResolvConfPath: path, Logger: discardLog}, &recordingOps{})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tt.apply {
				err := c.Apply(context.Background(), s)
				if i == 0 && !errors.Is(err, tt.wantErr) || i > 0 && err != nil {
					t.Fatalf("Apply #%d: %v, want %v", i, err, tt.wantErr)
				}
			}
			if got := readFile(t, path); !tt.wantMid(got) {
				t.Errorf("resolv.conf while running is unexpected:\n%s", got)
			}
			if tt.between != "" {
				if err := writeInPlace(path, []byte(tt.between)); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			want := tt.wantLast
			if want == "" {
				want = initial
			}
			if got := readFile(t, path); got != want {
				t.Errorf("resolv.conf after Close = %q, want %q", got, want)
			}
		})
	}
}

func TestConfiguratorMissingResolvConf(t *testing.T) {
	path := tempResolvConf(t, "")
	os.Remove(path)
	c, err := newConfigurator(Config{TunName: "vnet0", DNSMode: DNSModeResolvConf, ResolvConfPath: path, Logger: discardLog}, &recordingOps{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Apply(context.Background(), settings("100.64.0.1", "", 0, "100.64.0.0/10"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Apply without resolv.conf = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Error("Apply created a resolv.conf where there was none")
	}
}

func TestConfiguratorCanceledContext(t *testing.T) {
	ops := &recordingOps{}
	c, err := newConfigurator(Config{TunName: "vnet0", DNSMode: DNSModeNone, Logger: discardLog}, ops)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Apply(ctx, settings("100.64.0.1", "", 0, "100.64.0.0/10")); !errors.Is(err, context.Canceled) {
		t.Errorf("Apply = %v, want context.Canceled", err)
	}
	if len(ops.calls) != 0 {
		t.Errorf("calls after a canceled Apply: %q", ops.calls)
	}
}

func TestConfigCheckAndSetDefaults(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"resolv.conf", Config{TunName: "vnet0", DNSMode: DNSModeResolvConf}, false},
		{"none", Config{TunName: "vnet0", DNSMode: DNSModeNone}, false},
		{"no device", Config{DNSMode: DNSModeNone}, true},
		{"no DNS mode", Config{TunName: "vnet0"}, true},
		{"unknown DNS mode", Config{TunName: "vnet0", DNSMode: "dnsmasq"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.CheckAndSetDefaults()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && (tt.cfg.ResolvConfPath != DefaultResolvConfPath || tt.cfg.Logger == nil) {
				t.Errorf("defaults not set: %+v", tt.cfg)
			}
		})
	}
}
