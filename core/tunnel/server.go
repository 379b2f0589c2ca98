package tunnel

import (
	"errors"
	"fmt"

	"github.com/vnetproject/vnet/core/api"
)

// Accept reads the DialRequest that opens a stream on the proxy's side.
func Accept(s api.Tunnel_DialServer) (*api.DialRequest, error) {
	f, err := s.Recv()
	if err != nil {
		return nil, err
	}
	req := f.GetDial()
	if req == nil || req.GetApp() == "" {
		return nil, errors.New("tunnel: first frame must be a dial request naming an app")
	}
	if req.GetPort() > 65535 {
		return nil, fmt.Errorf("tunnel: port %d out of range", req.GetPort())
	}
	return req, nil
}

// Reject answers a dial with reason and err.
func Reject(s api.Tunnel_DialServer, reason api.DialFailure, err error) error {
	return s.Send(&api.Frame{Result: Failed(reason, err)})
}

// Established answers a dial with success and returns the stream as a
// connection. The handler must not return before the connection is closed:
// returning ends the stream.
func Established(s api.Tunnel_DialServer, remote string) (*Conn, error) {
	if err := s.Send(&api.Frame{Result: &api.DialResult{}}); err != nil {
		return nil, err
	}
	return ServerConn(s, remote), nil
}
