// Package portrange is the tcp_ports of a multi-port app: the cluster
// validates them (core/cluster/resource) and the laptop's catalog checks a
// client's port against them, so the type lives apart from either.
package portrange

// Range is one port (EndPort 0) or an inclusive range of ports a
// multi-port app listens on.
type Range struct {
	// int, not uint16: an out-of-range number gets our error naming the
	// field rather than a decoder's type error.
	Port    int `yaml:"port" json:"port"`
	EndPort int `yaml:"end_port,omitempty" json:"end_port,omitempty"`
}

// Contains reports whether port is in r.
func (r Range) Contains(port uint16) bool {
	p := int(port)
	if r.EndPort == 0 {
		return p == r.Port
	}
	return p >= r.Port && p <= r.EndPort
}

// Allow reports whether an app with tcp_ports ranges takes connections on
// port (every port when ranges is empty).
func Allow(ranges []Range, port uint16) bool {
	if len(ranges) == 0 {
		return true
	}
	for _, r := range ranges {
		if r.Contains(port) {
			return true
		}
	}
	return false
}
