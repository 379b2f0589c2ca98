package profile

import "google.golang.org/grpc"

// Dial opens the one gRPC connection to the profile's cluster that carries
// every call and every tunnelled app connection. It connects lazily.
func (p *Profile) Dial() (*grpc.ClientConn, error) { return p.Identity().Dial() }
