package resource

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// App is a TCP application reachable through the cluster.
type App struct {
	Header `yaml:",inline" json:",inline"`
	Spec   AppSpec `yaml:"spec" json:"spec"`
}

// AppSpec is the spec of an App.
type AppSpec struct {
	// URI is where the App Service dials the app: tcp://host:port.
	URI string `yaml:"uri" json:"uri"`
	// PublicAddr is the DNS name clients use, lower-case without a trailing
	// dot; optional.
	PublicAddr string `yaml:"public_addr,omitempty" json:"public_addr,omitempty"`
	// TCPPorts makes a multi-port app: the client's port is dialled on
	// the uri's host if it is listed, and refused otherwise. Empty: every
	// port of the name reaches the uri's port.
	TCPPorts []PortRange `yaml:"tcp_ports,omitempty" json:"tcp_ports,omitempty"`
}

// NewApp returns an app resource with kind and version set, as the App
// Service's static config describes one; call CheckAndSetDefaults to
// validate it. labels is used, not copied.
func NewApp(name, uri, publicAddr string, labels map[string]string) *App {
	return &App{
		Header: Header{KindField: KindApp, Version: V1, Metadata: Metadata{Name: name, Labels: labels}},
		Spec:   AppSpec{URI: uri, PublicAddr: publicAddr},
	}
}

// Kind implements Resource.
func (a *App) Kind() string { return KindApp }

// DialAddr returns the host:port of URI, or "" if URI is not valid.
func (s *AppSpec) DialAddr() string {
	u, err := url.Parse(s.URI)
	if err != nil {
		return ""
	}
	return u.Host
}

// CheckAndSetDefaults implements Resource.
func (a *App) CheckAndSetDefaults() error {
	if err := a.Header.check(KindApp); err != nil {
		return err
	}
	fail := func(field, format string, args ...any) error {
		return newError(KindApp, a.Metadata.Name, field, format, args...)
	}
	if a.Spec.URI == "" {
		return fail("spec.uri", "required (e.g. tcp://localhost:5432)")
	}
	if len(a.Spec.URI) > maxURILen {
		return fail("spec.uri", "is too long (%d bytes, at most %d)", len(a.Spec.URI), maxURILen)
	}
	if reason := checkAppURI(a.Spec.URI, len(a.Spec.TCPPorts) > 0); reason != "" {
		return fail("spec.uri", "%q %s", a.Spec.URI, reason)
	}
	if err := checkPorts(a.Spec.TCPPorts, a.Spec.URI, fail); err != nil {
		return err
	}
	if a.Spec.PublicAddr != "" {
		addr := normalizeDNSName(a.Spec.PublicAddr)
		if reason := checkPublicAddr(addr); reason != "" {
			return fail("spec.public_addr", "%q %s", a.Spec.PublicAddr, reason)
		}
		a.Spec.PublicAddr = addr
	}
	return nil
}

// maxURILen bounds an app's URI: tcp:// and a DNS name (at most 253
// bytes) or an IP address, and a port.
const maxURILen = 512

// checkAppURI returns why uri is not a tcp://host:port URI (tcp://host
// for a multi-port app), or "".
func checkAppURI(uri string, multiPort bool) string {
	const want = "use tcp://host:port"
	if !strings.Contains(uri, "://") {
		return "has no scheme: " + want
	}
	u, err := url.Parse(uri)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is already quoted in the message
		}
		return fmt.Sprintf("is not a valid URL: %v", err)
	}
	if u.Scheme != "tcp" {
		return fmt.Sprintf("has scheme %q: only tcp:// apps are reachable through VNet", u.Scheme)
	}
	if u.User != nil {
		return "has user info: " + want
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return "has a path, query or fragment: " + want
	}
	if u.Hostname() == "" {
		return "has no host: " + want
	}
	portStr := u.Port()
	if portStr == "" && multiPort {
		return ""
	}
	if portStr == "" {
		return "has no port: " + want + " (or list tcp_ports)"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return fmt.Sprintf("has port %s, which is not in 1-65535", portStr)
	}
	return ""
}

// checkPublicAddr returns why the normalised addr is not a public address,
// or "".
func checkPublicAddr(addr string) string {
	const want = "use a DNS name such as tcp-app.company.test"
	if strings.Contains(addr, "://") {
		return "has a scheme: " + want
	}
	if _, err := netip.ParseAddr(addr); err == nil {
		return "is an IP address: " + want
	}
	if strings.Contains(addr, "/") {
		return "has a path: " + want
	}
	if strings.Contains(addr, ":") {
		return "has a port: VNet forwards every port of the app, " + want
	}
	return checkDNSName(addr)
}
