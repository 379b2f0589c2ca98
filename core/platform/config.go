package platform

import (
	"errors"
	"fmt"
	"log/slog"
)

// DNS modes: how the Configurator points the OS resolver at VNet's DNS
// server; each is a dnsConfigurator (see dns.go).
const (
	// DNSModeResolved gives the device VNet's DNS servers and a ~zone
	// routing domain per captured domain in systemd-resolved (split DNS:
	// only those zones reach VNet). See resolved.go.
	DNSModeResolved = "systemd-resolved"
	// DNSModeResolvConf rewrites the resolv.conf file in place so that every
	// query goes to VNet, which forwards what is not its own to the
	// original resolvers.
	DNSModeResolvConf = "resolv.conf"
	// DNSModeNone touches no DNS configuration.
	DNSModeNone = "none"
)

// Config configures a Configurator.
type Config struct {
	// TunName is the device to configure; never empty.
	TunName string
	// DNSMode is DNSModeResolved, DNSModeResolvConf or DNSModeNone.
	DNSMode string
	// ResolvConfPath is the file rewritten in resolv.conf mode; defaults to
	// DefaultResolvConfPath.
	ResolvConfPath string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// RouteTable is the routing table that receives the routes; 0 is the
	// main table. VNet's root helper puts them in a table of their own that
	// only the VNet user's traffic looks up (see UIDRule).
	RouteTable int
}

// CheckAndSetDefaults validates c and fills in the defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.TunName == "" {
		return errors.New("platform config: TunName is empty")
	}
	switch c.DNSMode {
	case DNSModeResolved, DNSModeResolvConf, DNSModeNone:
	case "":
		return fmt.Errorf("platform config: DNSMode is empty (want %q, %q or %q)", DNSModeResolved, DNSModeResolvConf, DNSModeNone)
	default:
		return fmt.Errorf("platform config: unknown DNSMode %q (want %q, %q or %q)", c.DNSMode, DNSModeResolved, DNSModeResolvConf, DNSModeNone)
	}
	if c.ResolvConfPath == "" {
		c.ResolvConfPath = DefaultResolvConfPath
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
