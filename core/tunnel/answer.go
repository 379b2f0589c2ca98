package tunnel

import (
	"context"
	"fmt"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
)

// Answer is the agent's side of a reverse tunnel: it opens the Connect
// stream that answers the proxy's AgentDial id over conn (the agent's one
// connection to the proxy). With dialErr nil it reports success and
// returns the stream as a connection to relay with the app; otherwise it
// reports dialErr as a refusal and returns nil.
func Answer(ctx context.Context, conn grpc.ClientConnInterface, id uint64, app string, dialErr error) (*Conn, error) {
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s, err := api.NewAgentClient(conn).Connect(sctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("answer dial %d: %w: %v", id, ErrTransport, err)
	}
	res := &api.DialResult{DialId: id}
	if dialErr != nil {
		res = Failed(api.DialFailure_DIAL_FAILURE_REFUSED, dialErr)
		res.DialId = id
	}
	if err := s.Send(&api.Frame{Result: res}); err != nil {
		cancel()
		return nil, fmt.Errorf("answer dial %d: %w: %v", id, ErrTransport, err)
	}
	if dialErr != nil {
		// The proxy ends the stream once it has the result.
		_ = s.CloseSend()
		go func() {
			defer cancel()
			for {
				if _, err := s.Recv(); err != nil {
					return
				}
			}
		}()
		return nil, nil
	}
	return newClientConn(s, cancel, Addr{"agent"}, Addr{"proxy/" + app}), nil
}

// AcceptAnswer reads the first frame of a Connect stream on the proxy's
// side: the DialResult naming the dial it answers.
func AcceptAnswer(s api.Agent_ConnectServer) (*api.DialResult, error) {
	f, err := s.Recv()
	if err != nil {
		return nil, err
	}
	r := f.GetResult()
	if r == nil || r.GetDialId() == 0 {
		return nil, fmt.Errorf("tunnel: first frame of an answer must be a dial result naming its dial")
	}
	return r, nil
}

// ServerConn returns an answered Connect stream, on the proxy's side, as a
// connection. The handler must not return before the connection is closed.
func ServerConn(s api.Agent_ConnectServer, remote string) *Conn {
	return newConn(s, Addr{"proxy"}, Addr{remote}, func(bool) {})
}

// ResultError is the error a failed DialResult stands for (ErrRefused,
// ErrNotFound, ErrDenied or ErrTransport, with the peer's message).
func ResultError(r *api.DialResult) error { return resultError(r) }
