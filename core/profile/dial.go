package profile

import (
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Dial opens the one gRPC connection to the profile's cluster that carries
// every call and every tunnelled app connection. It connects lazily.
func (p *Profile) Dial() (*grpc.ClientConn, error) {
	cfg, err := p.TLSConfig()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient("passthrough:///"+p.ProxyAddr,
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Large windows: one connection carries bulk app traffic.
		grpc.WithInitialWindowSize(4<<20),
		grpc.WithInitialConnWindowSize(16<<20),
	)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.ProxyAddr, err)
	}
	return conn, nil
}
