package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
)

// Sentinel errors for the outcomes of a dial that a caller acts on.
var (
	ErrRefused   = errors.New("connection refused by the app")
	ErrNotFound  = errors.New("no such app")
	ErrDenied    = errors.New("access denied")
	ErrTransport = errors.New("cluster unreachable")
	// ErrLimit: the proxy refused the stream because the caller is at a
	// limit (its streams per user); the message says which and how to
	// raise it.
	ErrLimit = errors.New("limit reached at the proxy")
)

// gracefulWait bounds how long Close waits for the proxy to end a stream
// whose both directions are done, before cancelling it.
const gracefulWait = 5 * time.Second

// Client dials apps of one cluster through its proxy.
type Client struct {
	open    func(context.Context, ...grpc.CallOption) (api.Tunnel_DialClient, error) // never nil
	cluster string
}

// NewClient returns a Client using conn, the one connection to cluster.
func NewClient(conn grpc.ClientConnInterface, cluster string) *Client {
	return &Client{open: api.NewTunnelClient(conn).Dial, cluster: cluster}
}

// NewPeerClient returns a Client that dials through another proxy of the
// same cluster (its Peer service) over conn: the same protocol, for apps
// whose agent is connected to that proxy.
func NewPeerClient(conn grpc.ClientConnInterface, cluster string) *Client {
	return &Client{open: api.NewPeerClient(conn).Dial, cluster: cluster}
}

// Dial opens a connection to port of app. It returns only once the proxy
// has reached the app, so that a caller can refuse its own client's
// handshake when the app is down.
func (c *Client) Dial(ctx context.Context, app string, port uint16, clientAddr string) (*Conn, error) {
	return c.DialIn(ctx, "", app, port, clientAddr)
}

// DialIn is Dial for an app of cluster: a leaf cluster that the proxy's
// cluster trusts, or "" for the proxy's own.
func (c *Client) DialIn(ctx context.Context, cluster, app string, port uint16, clientAddr string) (*Conn, error) {
	where := c.cluster
	if cluster != "" {
		where = cluster + " via " + c.cluster
	}
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // ctx bounds the dial only
	s, err := c.open(sctx)
	if err != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("dial %s through %s: %w: %v", app, where, ErrTransport, err)
	}
	fail := func(err error) (*Conn, error) {
		stop()
		cancel()
		return nil, err
	}
	if err := s.Send(&api.Frame{Dial: &api.DialRequest{App: app, Port: uint32(port), ClientAddr: clientAddr, Cluster: cluster}}); err != nil {
		return fail(fmt.Errorf("dial %s through %s: %w: %v", app, where, ErrTransport, err))
	}
	f, err := s.Recv()
	if err != nil {
		return fail(fmt.Errorf("dial %s through %s: %w", app, where, statusError(err)))
	}
	if r := f.GetResult(); r == nil || r.GetError() != "" {
		return fail(fmt.Errorf("dial %s through %s: %w", app, where, resultError(r)))
	}
	if !stop() {
		cancel()
		return nil, ctx.Err()
	}
	return newClientConn(s, cancel, Addr{"vnet"}, Addr{where + "/" + app}), nil
}

// newClientConn is the Conn over the client end of a stream; cancel ends
// the stream's context.
func newClientConn(s api.Tunnel_DialClient, cancel context.CancelFunc, local, remote net.Addr) *Conn {
	var conn *Conn
	onClose := func(graceful bool) {
		defer cancel()
		if !graceful {
			return
		}
		// Let the server finish the call so that our eof is delivered
		// before the stream is torn down.
		_ = s.CloseSend()
		t := time.AfterFunc(gracefulWait, cancel)
		defer t.Stop()
		conn.drain()
	}
	conn = newConn(s, local, remote, onClose)
	return conn
}

func statusError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: proxy closed the stream", ErrTransport)
	}
	if status.Code(err) == codes.ResourceExhausted {
		return fmt.Errorf("%w: %s", ErrLimit, status.Convert(err).Message())
	}
	return fmt.Errorf("%w: %v", ErrTransport, err)
}
