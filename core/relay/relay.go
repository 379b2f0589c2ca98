// Package relay copies bytes both ways between two connections, passing
// half-close through so that each side sees the other's EOF as a kernel
// socket would.
package relay

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// closeWriter is a connection that can close its sending direction alone.
// *net.TCPConn, gonet.TCPConn and tunnel connections all are.
type closeWriter interface {
	CloseWrite() error
}

// aborter is a connection that can end with a reset instead of a FIN
// (stack.Conn).
type aborter interface {
	Abort() error
}

// abort ends c so that its peer sees a reset: what it talked to broke, and
// a clean EOF would make a truncated transfer look complete.
func abort(c net.Conn) {
	switch c := c.(type) {
	case aborter:
		c.Abort()
	case *net.TCPConn:
		c.SetLinger(0)
		c.Close()
	default:
		c.Close()
	}
}

// Result counts what crossed the relay.
type Result struct {
	AToB, BToA int64 // bytes copied from a to b, and from b to a
}

// Splice copies a→b and b→a until both directions reach EOF, an error
// occurs, or ctx is done; then it closes both connections. When one side
// stops sending, the other side's write direction is closed (if it can be),
// so a client's shutdown(SHUT_WR) reaches the server. On an error or a
// cancelled ctx both sides are aborted (a TCP peer gets a RST), so that a
// broken path never looks like a finished transfer. The first error other
// than EOF is returned.
func Splice(ctx context.Context, a, b net.Conn) (Result, error) {
	var (
		res   Result
		wg    sync.WaitGroup
		errMu sync.Mutex
		err   error // guarded by errMu: ctx's AfterFunc may still be setting it when Splice returns
	)
	closeBoth := func() {
		a.Close()
		b.Close()
	}
	fail := func(e error) {
		errMu.Lock()
		if err == nil {
			err = e
		}
		errMu.Unlock()
		abort(a)
		abort(b)
	}
	stop := context.AfterFunc(ctx, func() { fail(ctx.Err()) })
	defer stop()

	pump := func(dst, src net.Conn, n *int64) {
		defer wg.Done()
		c, e := io.Copy(dst, src)
		*n = c
		if errors.Is(e, net.ErrClosed) {
			// The relay is being torn down (an abort or the other
			// direction's end): passing an EOF on now would turn a
			// broken path into a clean end of data.
			return
		}
		if e != nil {
			fail(e)
			return
		}
		if cw, ok := dst.(closeWriter); ok {
			if cw.CloseWrite() == nil {
				return
			}
		}
		// dst cannot half-close: the only way to pass EOF on is to close.
		closeBoth()
	}
	wg.Add(2)
	go pump(b, a, &res.AToB)
	pump(a, b, &res.BToA) // on the caller's goroutine: one fewer per connection
	wg.Wait()
	closeBoth()
	errMu.Lock()
	defer errMu.Unlock()
	return res, err
}
