package dns

import "errors"

var (
	// ErrServerClosed is returned by ServeUDP and ServeTCP when the Server
	// was closed before they were called.
	ErrServerClosed = errors.New("dns: server closed")
	// ErrNoUpstream is returned by NewForwarder when it gets no server.
	ErrNoUpstream = errors.New("dns: no upstream server")
	// ErrNoNameservers is returned by ParseResolvConf when the file names
	// no usable nameserver.
	ErrNoNameservers = errors.New("dns: no nameserver in resolv.conf")
)
