package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
)

// The control stream of a machine that holds a reverse tunnel to this
// proxy: an App Service agent's (Agent.Control) or a leaf cluster's
// (Trust.Control). Both run the one loop here: the link is attached (a
// machine that reconnects replaces its older stream), one writer sends
// what the proxy queues on the link, one reader brings the machine's
// messages, and the stream ends when the machine says goodbye or goes
// away, misses missedBeats heartbeats (any message counts as one), is
// removed from the cluster, or the proxy stops. What differs is the
// machine's messages and what a removal ends with: a controlHandler.

// controlStream is the server side of a control stream whose machine
// sends M.
type controlStream[M any] interface {
	Context() context.Context
	Recv() (M, error)
	Send(*api.ProxyMessage) error
}

// controlHandler is what an agent's and a leaf's control stream do
// differently.
type controlHandler[M any] interface {
	// begin runs once the link is attached and its writer runs: the
	// welcome. An error ends the stream with it.
	begin(ctx context.Context) error
	// handle acts on one message; stop ends the stream without error
	// (a goodbye), an error ends it with that error.
	handle(ctx context.Context, m M) (stop bool, err error)
	// removed is what the stream ends with once the machine has been
	// removed from the cluster (link.remove).
	removed() error
}

// control is one control stream as the loop serves it.
type control[M any] struct {
	kind     string // "agent" or "leaf cluster", for logs
	key      string // the log attribute naming the machine
	name     string // the machine's ID or name
	link     *agentLink
	beats    time.Duration   // silence after which the machine is cut off
	stopping <-chan struct{} // closed when the proxy stops
	log      *slog.Logger
	// attach makes link the machine's and says whether it replaced an
	// older one; detach undoes it if link is still the machine's.
	attach func() (replaced bool)
	detach func()
	h      controlHandler[M]
}

// serve runs st until it ends.
func (c *control[M]) serve(st controlStream[M]) error {
	ctx := st.Context()
	if c.attach() {
		c.log.Info(c.kind+" reconnected; its older stream is replaced", c.key, c.name)
	}
	defer c.detach()
	defer close(c.link.done)

	writeErr := make(chan error, 1)
	c.link.startWriter(ctx, st.Send, func(err error) { writeErr <- err })
	// The one reader.
	type recv struct {
		m   M
		err error
	}
	msgs := make(chan recv, 1)
	go func() {
		for {
			m, err := st.Recv()
			select {
			case msgs <- recv{m, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	if err := c.h.begin(ctx); err != nil {
		return err
	}
	// A machine that stops beating without its connection breaking (a
	// hung process, a silent network) is cut off like one that
	// disconnected.
	deadline := time.NewTimer(c.beats)
	defer deadline.Stop()
	for {
		select {
		case r := <-msgs:
			if errors.Is(r.err, io.EOF) || status.Code(r.err) == codes.Canceled {
				c.log.Info(c.kind+" disconnected", c.key, c.name)
				return nil
			}
			if r.err != nil {
				c.log.Info(c.kind+" control stream broke", c.key, c.name, "err", r.err)
				return r.err
			}
			deadline.Reset(c.beats)
			if stop, err := c.h.handle(ctx, r.m); stop || err != nil {
				return err
			}
		case <-c.link.removed:
			c.log.Info(c.kind+" was removed: cutting it off", c.key, c.name)
			return c.h.removed()
		case err := <-writeErr:
			return err
		case <-ctx.Done():
			// The connection ended: the reader may have seen it first and
			// left without a word.
			c.log.Info(c.kind+" disconnected", c.key, c.name, "err", context.Cause(ctx))
			return nil
		case <-deadline.C:
			c.log.Info(c.kind+" missed its heartbeats: cutting it off", c.key, c.name)
			return status.Error(codes.DeadlineExceeded, "no heartbeat")
		case <-c.stopping:
			return status.Error(codes.Unavailable, "proxy is stopping")
		}
	}
}
