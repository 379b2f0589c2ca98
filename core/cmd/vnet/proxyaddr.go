package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// defaultProxyPort is the port of a --proxy given without one.
const defaultProxyPort = "3080"

// proxyAddr reads --proxy as people write it: host, host:port,
// https://host or https://host:port (a URL copied from a browser, a
// trailing slash too), and returns host:port.
func proxyAddr(s string) (string, error) {
	in := s
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if !strings.EqualFold(scheme, "https") {
			return "", fmt.Errorf("--proxy %q: use host, host:port or https://host[:port]", in)
		}
		s = rest
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.ContainsAny(s, "/?#@ ") {
		return "", fmt.Errorf("--proxy %q: use host, host:port or https://host[:port]", in)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port (an IPv6 literal may come in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), defaultProxyPort
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || host == "" {
		return "", fmt.Errorf("--proxy %q: use host, host:port or https://host[:port] with a port from 1 to 65535", in)
	}
	return net.JoinHostPort(host, port), nil
}
