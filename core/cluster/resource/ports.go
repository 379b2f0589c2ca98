package resource

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"github.com/vnetproject/vnet/core/portrange"
)

// PortRange is one port (EndPort 0) or an inclusive range of ports a
// multi-port app listens on; the laptop's catalog shares the type.
type PortRange = portrange.Range

// checkPorts validates tcp_ports; fail names the field.
func checkPorts(ports []PortRange, uri string, fail func(field, format string, args ...any) error) error {
	if len(ports) == 0 {
		return nil
	}
	if u, err := url.Parse(uri); err == nil && u.Port() != "" {
		return fail("spec.uri", "%q has a port, but the app lists tcp_ports: leave the port out (tcp://%s), the client's port is used", uri, u.Hostname())
	}
	for i, r := range ports {
		field := fmt.Sprintf("spec.tcp_ports[%d]", i)
		if r.Port < 1 || r.Port > 65535 {
			return fail(field+".port", "%d is not in 1-65535", r.Port)
		}
		if r.EndPort != 0 && (r.EndPort <= r.Port || r.EndPort > 65535) {
			return fail(field+".end_port", "%d must be greater than port %d and at most 65535", r.EndPort, r.Port)
		}
	}
	return nil
}

// AllowsPort reports whether a client may use port: any port for a
// single-port app, a listed one for a multi-port app.
func (s *AppSpec) AllowsPort(port uint16) bool { return portrange.Allow(s.TCPPorts, port) }

// Target is the host:port to dial for a client that used port: the uri's
// own port for a single-port app (whatever port the client used), the
// client's port for a multi-port app; ok is false if the app does not
// listen there.
func (s *AppSpec) Target(port uint16) (hostport string, ok bool) {
	if !s.AllowsPort(port) {
		return "", false
	}
	if len(s.TCPPorts) == 0 {
		return s.DialAddr(), true
	}
	u, err := url.Parse(s.URI)
	if err != nil {
		return "", false
	}
	return net.JoinHostPort(u.Hostname(), strconv.Itoa(int(port))), true
}

// WithTarget returns a copy of a whose uri dials hostport: the app as seen
// by one connection, once Target has picked the port.
func (a *App) WithTarget(hostport string) *App {
	c := *a
	c.Spec.URI = "tcp://" + hostport
	c.Spec.TCPPorts = nil
	return &c
}
