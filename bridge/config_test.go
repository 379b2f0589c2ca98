package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStartConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	resolv := filepath.Join(dir, "resolv.conf")
	emptyResolv := filepath.Join(dir, "empty.conf")
	os.WriteFile(file, nil, 0o600)
	os.WriteFile(resolv, []byte("# test\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n"), 0o600)
	os.WriteFile(emptyResolv, []byte("search example.test\n"), 0o600)
	q := func(s string) string { return `"` + s + `"` }

	for _, tc := range []struct {
		name    string
		json    string
		wantErr string // substring; empty: must parse
		check   func(t *testing.T, o *startOptions)
	}{
		{
			name: "defaults with explicit upstream",
			json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1", "192.0.2.2:5353", "2001:db8::1", "[2001:db8::2]:54"]}`,
			check: func(t *testing.T, o *startOptions) {
				want := []netip.AddrPort{
					netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("192.0.2.2:5353"),
					netip.MustParseAddrPort("[2001:db8::1]:53"), netip.MustParseAddrPort("[2001:db8::2]:54"),
				}
				if !slices.Equal(o.upstream, want) || o.mtu != defaultMTU || o.startTimeout != defaultStartTimeout || o.profileDir != dir {
					t.Errorf("got %+v", o)
				}
			},
		},
		{
			name: "upstream from resolv_conf, all fields",
			json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(resolv) + `, "mtu": 1280, "log_level": "debug", "start_timeout_ms": 2500}`,
			check: func(t *testing.T, o *startOptions) {
				want := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.53:53"), netip.MustParseAddrPort("[2001:db8::53]:53")}
				if !slices.Equal(o.upstream, want) || o.mtu != 1280 || o.logLevel.String() != "DEBUG" || o.startTimeout != 2500*time.Millisecond {
					t.Errorf("got %+v", o)
				}
			},
		},
		{name: "not JSON", json: `profile_dir=/x`, wantErr: "config: invalid character"},
		{name: "trailing data", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"]} {}`, wantErr: "trailing data"},
		{name: "unknown field", json: `{"profile_dir": ` + q(dir) + `, "upstream": ["192.0.2.1"]}`, wantErr: `unknown field "upstream"`},
		{name: "wrong type", json: `{"profile_dir": ` + q(dir) + `, "mtu": "big"}`, wantErr: "mtu"},
		{name: "no profile_dir", json: `{"upstream_dns": ["192.0.2.1"]}`, wantErr: "profile_dir is required"},
		{name: "missing profile_dir", json: `{"profile_dir": ` + q(filepath.Join(dir, "nope")) + `}`, wantErr: "no such file"},
		{name: "profile_dir is a file", json: `{"profile_dir": ` + q(file) + `}`, wantErr: "is not a directory"},
		{name: "mtu too small", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 100}`, wantErr: "mtu 100: at least 1280 (IPv6 needs it)"},
		// The bridge takes 576, the netstack does not: refused here, not when the engine starts.
		{name: "mtu below the netstack's", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 576}`, wantErr: "config: mtu 576: at least 1280 (IPv6 needs it)"},
		{name: "mtu too big", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "mtu": 70000}`, wantErr: "mtu 70000: at most 65535"},
		{name: "bad log level", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "log_level": "loud"}`, wantErr: `log_level "loud"`},
		{name: "log level with offset", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "log_level": "info+2"}`, wantErr: "log_level"},
		{name: "negative timeout", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "start_timeout_ms": -1}`, wantErr: "start_timeout_ms -1 is negative"},
		{name: "bad upstream", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1", "dns.example"]}`, wantErr: `upstream_dns[1] "dns.example"`},
		{name: "upstream port 0", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1:0"]}`, wantErr: "upstream_dns[0]"},
		{name: "both upstream sources", json: `{"profile_dir": ` + q(dir) + `, "upstream_dns": ["192.0.2.1"], "resolv_conf": ` + q(resolv) + `}`, wantErr: "not both"},
		{name: "resolv_conf missing", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(filepath.Join(dir, "nope")) + `}`, wantErr: "no upstream_dns given and open"},
		{name: "resolv_conf without nameserver", json: `{"profile_dir": ` + q(dir) + `, "resolv_conf": ` + q(emptyResolv) + `}`, wantErr: "no upstream_dns given and " + emptyResolv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseStartConfig([]byte(tc.json))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, o)
				return
			}
			if err == nil {
				t.Fatalf("parsed: %+v", o)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "config: ") {
				t.Errorf("error %q, want one line starting config: with %q", err, tc.wantErr)
			}
		})
	}
}
