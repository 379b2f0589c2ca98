package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/vnetproject/vnet/core/netcfg"
)

func TestTunnelSettings(t *testing.T) {
	a := netip.MustParseAddr
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name    string
		in      netcfg.Settings
		want    string // JSON
		wantErr string
	}{
		{
			name: "IPv4 with two ranges and zones",
			in: netcfg.Settings{
				TunAddr4: a("100.64.0.1"),
				Routes:   []netip.Prefix{p("100.64.0.0/10"), p("10.20.0.0/16"), p("192.168.7.3/24")},
				DNSAddrs: []netip.Addr{a("100.64.0.2")},
				DNSZones: []string{"company.test", "proxy.example.test"},
				MTU:      1500,
			},
			want: `{"tunnel_remote_address":"127.0.0.1","mtu":1500,` +
				`"ipv4":{"addresses":["100.64.0.1"],"subnet_masks":["255.255.255.255"],"included_routes":[` +
				`{"destination_address":"100.64.0.0","subnet_mask":"255.192.0.0","prefix":"100.64.0.0/10"},` +
				`{"destination_address":"10.20.0.0","subnet_mask":"255.255.0.0","prefix":"10.20.0.0/16"},` +
				`{"destination_address":"192.168.7.0","subnet_mask":"255.255.255.0","prefix":"192.168.7.0/24"}]},` +
				`"dns":{"servers":["100.64.0.2"],"match_domains":["company.test","proxy.example.test"],"match_domains_no_search":true}}`,
		},
		{
			name: "IPv4 and IPv6",
			in: netcfg.Settings{
				TunAddr4: a("100.64.0.1"),
				TunAddr6: a("fd12:3456:789a:1::1"),
				Routes:   []netip.Prefix{p("100.64.0.0/10"), p("fd12:3456:789a:1::/64")},
				DNSAddrs: []netip.Addr{a("100.64.0.2"), a("fd12:3456:789a:1::2")},
				DNSZones: []string{"company.test"},
				MTU:      1280,
			},
			want: `{"tunnel_remote_address":"127.0.0.1","mtu":1280,` +
				`"ipv4":{"addresses":["100.64.0.1"],"subnet_masks":["255.255.255.255"],"included_routes":[` +
				`{"destination_address":"100.64.0.0","subnet_mask":"255.192.0.0","prefix":"100.64.0.0/10"}]},` +
				`"ipv6":{"addresses":["fd12:3456:789a:1::1"],"network_prefix_lengths":[128],"included_routes":[` +
				`{"destination_address":"fd12:3456:789a:1::","network_prefix_length":64,"prefix":"fd12:3456:789a:1::/64"}]},` +
				`"dns":{"servers":["100.64.0.2","fd12:3456:789a:1::2"],"match_domains":["company.test"],"match_domains_no_search":true}}`,
		},
		{
			name: "no zones: no DNS settings (never the default resolver)",
			in:   netcfg.Settings{TunAddr4: a("100.64.0.1"), Routes: []netip.Prefix{p("100.64.0.0/10")}, DNSAddrs: []netip.Addr{a("100.64.0.2")}, MTU: 1500},
			want: `{"tunnel_remote_address":"127.0.0.1","mtu":1500,"ipv4":{"addresses":["100.64.0.1"],"subnet_masks":["255.255.255.255"],"included_routes":[` +
				`{"destination_address":"100.64.0.0","subnet_mask":"255.192.0.0","prefix":"100.64.0.0/10"}]}}`,
		},
		{name: "no IPv4 address", in: netcfg.Settings{MTU: 1500}, wantErr: "tunnel IPv4 address invalid IP is not IPv4"},
		{name: "IPv6 as the IPv4 address", in: netcfg.Settings{TunAddr4: a("fd00::1")}, wantErr: "not IPv4"},
		{name: "mapped IPv4 as the IPv6 address", in: netcfg.Settings{TunAddr4: a("100.64.0.1"), TunAddr6: a("::ffff:1.2.3.4")}, wantErr: "not IPv6"},
		{name: "IPv6 route without IPv6", in: netcfg.Settings{TunAddr4: a("100.64.0.1"), Routes: []netip.Prefix{p("fd00::/64")}}, wantErr: "IPv6 route fd00::/64 without"},
		{name: "invalid route", in: netcfg.Settings{TunAddr4: a("100.64.0.1"), Routes: []netip.Prefix{{}}}, wantErr: "invalid route"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, err := tunnelSettings(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := json.Marshal(ts)
			if string(got) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestMaskString(t *testing.T) {
	for _, tc := range []struct {
		ones, bits int
		want       string
	}{{0, 32, "0.0.0.0"}, {8, 32, "255.0.0.0"}, {10, 32, "255.192.0.0"}, {23, 32, "255.255.254.0"}, {32, 32, "255.255.255.255"}} {
		if got := maskString(tc.ones, tc.bits); got != tc.want {
			t.Errorf("/%d: %s, want %s", tc.ones, got, tc.want)
		}
	}
}
