package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vnetproject/vnet/core/vnet"
)

// Defaults of StartConfig.
const (
	defaultResolvConf   = "/etc/resolv.conf"
	defaultMTU          = vnet.DefaultMTU
	defaultStartTimeout = 30 * time.Second
)

// hostMTU is what the bridge's side of the link takes; the engine's own
// limits are narrower (vnet.MinMTU: IPv6 needs 1280).
var hostMTU = vnet.MTURange{Min: 576, Max: 65535, Who: "the bridge"} // 576: the least an IPv4 host must accept (RFC 791)

// StartConfig is the JSON object vnet_start takes (documented in vnet.h).
type StartConfig struct {
	ProfileDir     string   `json:"profile_dir"`
	UpstreamDNS    []string `json:"upstream_dns"`
	ResolvConf     string   `json:"resolv_conf"`
	MTU            int      `json:"mtu"`
	LogLevel       string   `json:"log_level"`
	StartTimeoutMS int      `json:"start_timeout_ms"`
	// IPv6 (default true) answers AAAA and routes the machine's ULA /64,
	// kept in profile_dir/ula-prefix so apps keep their IPv6 addresses.
	IPv6 *bool `json:"ipv6"`
}

// startOptions is a checked StartConfig, ready to use.
type startOptions struct {
	profileDir   string
	upstream     []netip.AddrPort // never empty
	mtu          int
	logLevel     slog.Level
	startTimeout time.Duration
	ipv6         bool
}

// parseStartConfig reads and checks vnet_start's JSON. Each error names the
// field at fault in one line.
func parseStartConfig(data []byte) (*startOptions, error) {
	var c StartConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if dec.More() {
		return nil, errors.New("config: trailing data after the JSON object")
	}
	o := &startOptions{profileDir: c.ProfileDir, mtu: c.MTU, startTimeout: defaultStartTimeout, ipv6: c.IPv6 == nil || *c.IPv6}

	if c.ProfileDir == "" {
		return nil, errors.New("config: profile_dir is required (the folder holding profiles/)")
	}
	if fi, err := os.Stat(c.ProfileDir); err != nil {
		return nil, fmt.Errorf("config: profile_dir: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("config: profile_dir %s is not a directory", c.ProfileDir)
	}

	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if err := o.logLevel.UnmarshalText([]byte(c.LogLevel)); err != nil || !knownLevel(c.LogLevel) {
		return nil, fmt.Errorf("config: log_level %q: want debug, info, warn or error", c.LogLevel)
	}

	switch {
	case c.StartTimeoutMS < 0:
		return nil, fmt.Errorf("config: start_timeout_ms %d is negative", c.StartTimeoutMS)
	case c.StartTimeoutMS > 0:
		o.startTimeout = time.Duration(c.StartTimeoutMS) * time.Millisecond
	}

	var err error
	if o.upstream, err = upstreams(c); err != nil {
		return nil, err
	}
	// The engine checks its options (the MTU against every layer's
	// limits) here, before anything is allocated for the instance.
	eo := o.engineOptions(nil)
	if err := eo.CheckAndSetDefaults(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	o.mtu = eo.MTU
	return o, nil
}

func knownLevel(s string) bool {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// upstreams are the servers given in upstream_dns, or else the nameservers
// of resolv_conf. On macOS /etc/resolv.conf lists the primary resolvers and
// VNet never changes it (its DNS is split by match domains), so the default
// is what the system used before VNet.
func upstreams(c StartConfig) ([]netip.AddrPort, error) {
	if c.ResolvConf != "" && len(c.UpstreamDNS) > 0 {
		return nil, errors.New("config: give upstream_dns or resolv_conf, not both")
	}
	if len(c.UpstreamDNS) > 0 {
		out := make([]netip.AddrPort, 0, len(c.UpstreamDNS))
		for i, s := range c.UpstreamDNS {
			ap, err := parseServer(s)
			if err != nil {
				return nil, fmt.Errorf("config: upstream_dns[%d] %q: want an IP address, optionally with :port", i, s)
			}
			out = append(out, ap)
		}
		return out, nil
	}
	path := c.ResolvConf
	if path == "" {
		path = defaultResolvConf
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: no upstream_dns given and %w", err)
	}
	servers, err := vnet.ParseResolvConf(data)
	if err != nil {
		return nil, fmt.Errorf("config: no upstream_dns given and %s: %w", path, err)
	}
	return servers, nil
}

// parseServer reads "192.0.2.1", "192.0.2.1:5353", "2001:db8::1" or
// "[2001:db8::1]:53"; the port defaults to 53.
func parseServer(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("port 0")
	}
	return ap, nil
}
