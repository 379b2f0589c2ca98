package config

import (
	"fmt"
	"net"
	"strconv"
)

// CheckHostPort checks a host:port of the file and returns its host. The
// port is a number (a service name such as http-alt depends on the
// machine's /etc/services: refused), from 1 to 65535, or 0 when zero is
// true (a listener on any free port).
func CheckHostPort(addr string, zero bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q: the port %q is not a number from 1 to 65535", addr, port)
	case n == 0 && !zero:
		return "", fmt.Errorf("%q: port 0 cannot be dialled: use the port clients connect to", addr)
	}
	return host, nil
}
