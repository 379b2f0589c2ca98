package vnet_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/platform"
	"github.com/vnetproject/vnet/core/vnet"
)

// TestOptionsRefused: every bad option is refused by Open up front, before
// anything is loaded or created, with one line that names it.
func TestOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	up := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53")}
	good := func() vnet.Options {
		return vnet.Options{ProfileDir: dir, StateDir: filepath.Join(dir, "state"), Upstream: up}
	}
	tun := vnet.MTURange{Min: platform.MinMTU, Max: platform.MaxMTU, Who: "the TUN device"}
	for _, tc := range []struct {
		name string
		edit func(o *vnet.Options)
		want string
	}{
		{"no profile dir", func(o *vnet.Options) { o.ProfileDir = "" }, "profile directory is required (the folder holding profiles/)"},
		{"no state dir", func(o *vnet.Options) { o.StateDir = "" }, "state directory is required (where VNet keeps this machine's address secret)"},
		{"no upstream", func(o *vnet.Options) { o.Upstream = nil }, "no upstream DNS server: VNet forwards the names that are not its own to at least one"},
		{"upstream port 0", func(o *vnet.Options) { o.Upstream = append(up, netip.MustParseAddrPort("192.0.2.1:0")) }, `upstream DNS server "192.0.2.1:0": want an IP address and a port other than 0`},
		{"upstream unspecified", func(o *vnet.Options) { o.Upstream = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")} }, `upstream DNS server "0.0.0.0:53": want an IP address and a port other than 0`},
		{"upstream invalid", func(o *vnet.Options) { o.Upstream = []netip.AddrPort{{}} }, `upstream DNS server "invalid AddrPort": want an IP address and a port other than 0`},
		{"negative upstream timeout", func(o *vnet.Options) { o.UpstreamTimeout = -time.Second }, "upstream timeout -1s is negative"},
		// The bridge takes 576 and the TUN device 68; the netstack, which
		// always runs IPv6, needs 1280.
		{"mtu 576", func(o *vnet.Options) { o.MTU = 576; o.HostMTU = vnet.MTURange{Min: 576, Max: 65535, Who: "the bridge"} }, "mtu 576: at least 1280 (IPv6 needs it)"},
		{"mtu 68 on a TUN device", func(o *vnet.Options) { o.MTU = 68; o.HostMTU = tun }, "mtu 68: at least 1280 (IPv6 needs it)"},
		{"mtu negative", func(o *vnet.Options) { o.MTU = -1 }, "mtu -1: at least 1280 (IPv6 needs it)"},
		{"mtu over an IP packet", func(o *vnet.Options) { o.MTU = 65536; o.HostMTU = tun }, "mtu 65536: at most 65535 (the largest IP packet)"},
		{"mtu over the host's", func(o *vnet.Options) { o.MTU = 9001; o.HostMTU = vnet.MTURange{Max: 9000, Who: "the NIC"} }, "mtu 9001: at most 9000 (the NIC takes no more)"},
		{"mtu under the host's", func(o *vnet.Options) { o.MTU = 1400; o.HostMTU = vnet.MTURange{Min: 1500, Who: "the NIC"} }, "mtu 1400: at least 1500 (the NIC takes no less)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good()
			tc.edit(&o)
			err := o.CheckAndSetDefaults()
			if err == nil || err.Error() != tc.want {
				t.Fatalf("CheckAndSetDefaults: %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			r, err := vnet.Open(o)
			if err == nil {
				r.Close()
				t.Fatal("Open took it")
			}
			if err.Error() != tc.want {
				t.Errorf("Open: %v, want %q", err, tc.want)
			}
			if o.StateDir != "" {
				if _, err := os.Stat(o.StateDir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Open refused the options but made the state directory (%v)", err)
				}
			}
		})
	}
}

// TestOptionsDefaults: the zero values take the engine's defaults, and
// checking again changes nothing.
func TestOptionsDefaults(t *testing.T) {
	o := vnet.Options{ProfileDir: "p", StateDir: "s", Upstream: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::53]:53")}}
	for range 2 {
		if err := o.CheckAndSetDefaults(); err != nil {
			t.Fatal(err)
		}
		if o.MTU != vnet.DefaultMTU || o.UpstreamTimeout != vnet.DefaultUpstreamTimeout || o.Logger == nil {
			t.Fatalf("defaults: %+v", o)
		}
	}
	for _, mtu := range []int{vnet.MinMTU, vnet.MaxMTU} {
		o.MTU = mtu
		o.HostMTU = vnet.MTURange{Min: platform.MinMTU, Max: platform.MaxMTU, Who: "the TUN device"}
		if err := o.CheckAndSetDefaults(); err != nil {
			t.Errorf("mtu %d: %v", mtu, err)
		}
	}
}
