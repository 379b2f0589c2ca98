package privsep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/platform"
)

// Client is the engine's side of the helper's socket.
type Client struct {
	conn    *net.UnixConn
	replies chan message  // one reply per request; closed with done
	done    chan struct{} // closed when the helper's side is gone

	dnsMode   string                 // the helper's, from its greeting
	unguarded atomic.Pointer[string] // from the open's reply; nil before it

	mu sync.Mutex // one request at a time
	// abandoned counts the requests whose ctx ended before their reply
	// came; guarded by mu. Their replies come first (one connection,
	// answered in order) and are dropped by the next call.
	abandoned int
}

type message struct {
	rep reply
	fds []int
}

// Dial connects to the helper listening at path (a systemd unit's socket,
// or the one `sudo vnet up` made for its engine).
func Dial(ctx context.Context, path string) (*Client, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("connect to VNet's helper at %s: %w", path, err)
	}
	return NewClient(ctx, c)
}

// NewClient speaks to the helper over conn, a SOCK_SEQPACKET Unix socket,
// once the helper has greeted it: a helper that refuses this process says
// why, and that is NewClient's error. The Client owns conn.
func NewClient(ctx context.Context, conn *net.UnixConn) (*Client, error) {
	c := &Client{conn: conn, replies: make(chan message, 1), done: make(chan struct{})}
	go c.read()
	var m message
	select {
	case m = <-c.replies:
	case <-c.done:
		// The reader queues the greeting (or refusal) before it ends.
		select {
		case m = <-c.replies:
		default:
			c.Close()
			return nil, errHelperGone
		}
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
	closeFDs(m.fds)
	if m.rep.Err != "" {
		c.Close()
		return nil, errors.New(m.rep.Err)
	}
	c.dnsMode = m.rep.DNSMode
	return c, nil
}

// DNSMode is how the helper points the OS resolver at VNet: the engine
// reads its upstream resolvers from the file that mode leaves alone
// (platform.UpstreamResolvConf).
func (c *Client) DNSMode() string { return c.dnsMode }

func (c *Client) read() {
	defer close(c.done)
	for {
		var rep reply
		fds, err := recv(c.conn, &rep)
		if err != nil {
			return
		}
		select {
		case c.replies <- message{rep, fds}:
		default:
			closeFDs(fds) // a reply nobody asked for
		}
	}
}

// Done is closed when the helper is gone (it stopped or died): the engine
// must stop, its settings are no longer in force.
func (c *Client) Done() <-chan struct{} { return c.done }

// errHelperGone is the end of the helper's side, as a request sees it.
var errHelperGone = errors.New("VNet's helper is gone")

func (c *Client) call(ctx context.Context, req request) (reply, []int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.abandoned > 0 {
		select {
		case m := <-c.replies:
			closeFDs(m.fds)
			c.abandoned--
		case <-c.done:
			return reply{}, nil, errHelperGone
		case <-ctx.Done():
			return reply{}, nil, ctx.Err()
		}
	}
	if err := send(c.conn, req); err != nil {
		return reply{}, nil, fmt.Errorf("%w: %v", errHelperGone, err)
	}
	var m message
	select {
	case m = <-c.replies:
	case <-c.done:
		select {
		case m = <-c.replies: // the last reply before the helper went
		default:
			return reply{}, nil, errHelperGone
		}
	case <-ctx.Done():
		c.abandoned++ // its reply is the next call's to drop
		return reply{}, nil, ctx.Err()
	}
	if m.rep.Err != "" {
		closeFDs(m.fds)
		return reply{}, nil, errors.New(m.rep.Err)
	}
	return m.rep, m.fds, nil
}

// OpenTUN asks the helper for the TUN device name with mtu and the given
// number of queues, and returns it with the helper's DNS mode. The device
// has as many queues as the helper sent descriptors: one from a helper
// older than multi-queue TUNs.
func (c *Client) OpenTUN(ctx context.Context, name string, mtu, queues int) (*platform.TUN, string, error) {
	rep, fds, err := c.call(ctx, request{Op: opOpen, Tun: name, MTU: mtu, Queues: queues})
	if err != nil {
		return nil, "", fmt.Errorf("open TUN %s through VNet's helper: %w", name, err)
	}
	if len(fds) == 0 {
		return nil, "", fmt.Errorf("open TUN %s through VNet's helper: no descriptor in the reply", name)
	}
	tun, err := platform.TUNFromFDs(fds, rep.Tun)
	if err != nil {
		return nil, "", err
	}
	c.unguarded.Store(&rep.Unguarded)
	return tun, rep.DNSMode, nil
}

// Unguarded says, after OpenTUN, why other local users can send through
// the device (the helper could not put its netfilter guard in place), in
// one line; empty when they cannot, or before OpenTUN.
func (c *Client) Unguarded() string {
	if p := c.unguarded.Load(); p != nil {
		return *p
	}
	return ""
}

// Apply asks the helper to put s in force.
func (c *Client) Apply(ctx context.Context, s netcfg.Settings) error {
	if _, _, err := c.call(ctx, request{Op: opApply, Settings: &s}); err != nil {
		return fmt.Errorf("VNet's helper: %w", err)
	}
	return nil
}

// Close ends the session: the helper undoes everything. Idempotent.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
