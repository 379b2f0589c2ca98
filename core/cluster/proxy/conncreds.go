package proxy

import (
	"context"
	"net"

	"google.golang.org/grpc/credentials"

	"github.com/vnetproject/vnet/core/cluster/auth"
)

// connCreds is the proxy's TLS credentials, giving every connection its
// own cache of the client certificate's chain check (auth.ConnVerified):
// the ECDSA check of a certificate that cannot change on a connection
// then runs once per connection, not once per tunnelled TCP connection
// (a stream). The cache lives in the connection's AuthInfo, so it is
// never shared between connections.
type connCreds struct {
	credentials.TransportCredentials
}

// connTLSInfo is a connection's TLSInfo and its cache.
type connTLSInfo struct {
	credentials.TLSInfo
	verified *auth.ConnVerified // never nil
}

func (c connCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := c.TransportCredentials.ServerHandshake(raw)
	if ti, ok := info.(credentials.TLSInfo); ok && err == nil {
		info = connTLSInfo{TLSInfo: ti, verified: auth.NewConnVerified()}
	}
	return conn, info, err
}

func (c connCreds) Clone() credentials.TransportCredentials {
	return connCreds{c.TransportCredentials.Clone()}
}

// tlsInfoOf returns a call's TLS state, and ctx carrying its connection's
// chain-check cache when the connection has one.
func tlsInfoOf(ctx context.Context, info credentials.AuthInfo) (context.Context, credentials.TLSInfo, bool) {
	switch i := info.(type) {
	case connTLSInfo:
		return auth.WithConnVerified(ctx, i.verified), i.TLSInfo, true
	case credentials.TLSInfo:
		return ctx, i, true
	}
	return ctx, credentials.TLSInfo{}, false
}
