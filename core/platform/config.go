package platform

import (
	"errors"
	"fmt"
	"log/slog"
)

// DNS modes: how the Configurator points the OS resolver at VNet's DNS
// server. systemd-resolved (per-link ~zone routing domains) is the next mode;
// it plugs in as another dnsConfigurator (see dns.go).
const (
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
	// DNSMode is DNSModeResolvConf or DNSModeNone.
	DNSMode string
	// ResolvConfPath is the file rewritten in resolv.conf mode; defaults to
	// DefaultResolvConfPath.
	ResolvConfPath string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// CheckAndSetDefaults validates c and fills in the defaults.
func (c *Config) CheckAndSetDefaults() error {
	if c.TunName == "" {
		return errors.New("platform config: TunName is empty")
	}
	switch c.DNSMode {
	case DNSModeResolvConf, DNSModeNone:
	case "":
		return fmt.Errorf("platform config: DNSMode is empty (want %q or %q)", DNSModeResolvConf, DNSModeNone)
	default:
		return fmt.Errorf("platform config: unknown DNSMode %q (want %q or %q)", c.DNSMode, DNSModeResolvConf, DNSModeNone)
	}
	if c.ResolvConfPath == "" {
		c.ResolvConfPath = DefaultResolvConfPath
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}
