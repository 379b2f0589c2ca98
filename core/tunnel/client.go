package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
)

// Sentinel errors for the outcomes of a dial that a caller acts on.
var (
	ErrRefused   = errors.New("connection refused by the app")
	ErrNotFound  = errors.New("no such app")
	ErrDenied    = errors.New("access denied")
	ErrTransport = errors.New("cluster unreachable")
)

// gracefulWait bounds how long Close waits for the proxy to end a stream
// whose both directions are done, before cancelling it.
const gracefulWait = 5 * time.Second

// Client dials apps of one cluster through its proxy.
type Client struct {
	api     api.TunnelClient // never nil
	cluster string
}

// NewClient returns a Client using conn, the one connection to cluster.
func NewClient(conn grpc.ClientConnInterface, cluster string) *Client {
	return &Client{api: api.NewTunnelClient(conn), cluster: cluster}
}

// Dial opens a connection to port of app. It returns only once the proxy
// has reached the app, so that a caller can refuse its own client's
// handshake when the app is down.
func (c *Client) Dial(ctx context.Context, app string, port uint16, clientAddr string) (*Conn, error) {
	sctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel) // ctx bounds the dial only
	s, err := c.api.Dial(sctx)
	if err != nil {
		stop()
		cancel()
		return nil, fmt.Errorf("dial %s through %s: %w: %v", app, c.cluster, ErrTransport, err)
	}
	fail := func(err error) (*Conn, error) {
		stop()
		cancel()
		return nil, err
	}
	if err := s.Send(&api.Frame{Dial: &api.DialRequest{App: app, Port: uint32(port), ClientAddr: clientAddr}}); err != nil {
		return fail(fmt.Errorf("dial %s through %s: %w: %v", app, c.cluster, ErrTransport, err))
	}
	f, err := s.Recv()
	if err != nil {
		return fail(fmt.Errorf("dial %s through %s: %w", app, c.cluster, statusError(err)))
	}
	if r := f.GetResult(); r == nil || r.GetError() != "" {
		return fail(fmt.Errorf("dial %s through %s: %w", app, c.cluster, resultError(r)))
	}
	if !stop() {
		cancel()
		return nil, ctx.Err()
	}
	var conn *Conn
	onClose := func(graceful bool) {
		defer cancel()
		if !graceful {
			return
		}
		// Let the proxy finish the call so that our eof is delivered
		// before the stream is torn down.
		_ = s.CloseSend()
		select {
		case <-conn.recvDone:
		case <-time.After(gracefulWait):
		}
	}
	conn = newConn(s, Addr{"vnet"}, Addr{c.cluster + "/" + app}, onClose)
	return conn, nil
}

func resultError(r *api.DialResult) error {
	if r == nil {
		return fmt.Errorf("%w: proxy sent no dial result", ErrTransport)
	}
	var base error
	switch r.GetCode() {
	case "refused":
		base = ErrRefused
	case "not_found":
		base = ErrNotFound
	case "denied":
		base = ErrDenied
	default:
		base = ErrTransport
	}
	return fmt.Errorf("%w: %s", base, r.GetError())
}

func statusError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: proxy closed the stream", ErrTransport)
	}
	return fmt.Errorf("%w: %v", ErrTransport, err)
}
