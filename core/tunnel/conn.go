// Package tunnel carries app connections over gRPC streams: one stream per
// connection, all of a cluster's streams on one HTTP/2 connection.
package tunnel

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// maxFrame bounds one data frame, and so what Conn.ReadFrom reads at once.
// HTTP/2 flow control gives back-pressure per stream; this only keeps
// single messages small. 128 KiB rather than 32: a quarter of the
// messages per byte, and of the proxy's reads from an app that sends fast;
// iperf3 through VNet took 8-23% less CPU of the path per Gbit
// (docs/benchmarks.md, "Download, fourth pass").
const maxFrame = 128 << 10

// stream is what both ends of a Dial call have in common.
type stream interface {
	Send(*api.Frame) error
	RecvMsg(m any) error // into an *inFrame: the codec's by-reference receive
}

// Conn is a net.Conn over a Dial stream. It half-closes: CloseWrite sends
// an eof frame, and the peer's eof frame reads as io.EOF. Reads receive
// from the stream themselves: no goroutine of the Conn's own stands between
// gRPC's and the reader, so a received frame costs one goroutine hand-off
// fewer. A Read blocked in Recv ends once Close has ended the stream (the
// client cancels it; the proxy returns from its handler when Done is
// closed), as does a Write blocked by flow control.
type Conn struct {
	s       stream
	local   net.Addr
	remote  net.Addr
	onClose func(graceful bool) // ends the stream; called once, after done is closed

	done chan struct{} // closed by Close
	once sync.Once

	sendMu  sync.Mutex // serialises Send: a gRPC stream allows one sender
	sentEOF bool       // guarded by sendMu

	// recvMu serialises Recv (a gRPC stream allows one receiver) and
	// guards the fields below.
	recvMu  sync.Mutex
	in      inFrame // the frame received last; its data not yet read, its buffers not yet freed
	gotEOF  bool    // once set, nothing receives for a read again
	readErr error   // sticky
}

func newConn(s stream, local, remote net.Addr, onClose func(graceful bool)) *Conn {
	return &Conn{
		s: s, local: local, remote: remote, onClose: onClose,
		done: make(chan struct{}),
	}
}

// Read returns data the peer sent, io.EOF after the peer's eof.
func (c *Conn) Read(b []byte) (int, error) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	if err := c.fill(); err != nil {
		return 0, err
	}
	n := 0
	for n < len(b) && len(c.in.data) > 0 {
		k := copy(b[n:], c.in.data[0])
		n += k
		if k == len(c.in.data[0]) {
			c.in.data = c.in.data[1:]
		} else {
			c.in.data[0] = c.in.data[0][k:]
		}
	}
	if len(c.in.data) == 0 {
		c.in.release()
	}
	return n, nil
}

// WriteTo implements io.WriterTo, so that io.Copy from a Conn (the relay)
// hands each received frame's bytes straight to w, from the buffers gRPC
// read them into (inFrame): no copy buffer of its own, which would be one
// more copy per byte and 32 KiB held by every connection, idle ones
// included. A frame whose data spans several of gRPC's buffers (one per
// HTTP/2 data frame) is one writev(2) to a socket (the proxy's side), one
// WriteBuffers call to a writer that has it (the laptop's netstack
// connection, stack.Conn; another Conn at a leaf hop), one Write per
// buffer to anything else.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	var written int64
	for {
		c.recvMu.Lock()
		err := c.fill()
		data, bufs := c.in.data, c.in.bufs
		c.in.data, c.in.bufs = nil, nil
		c.recvMu.Unlock()
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
		var n int64
		if len(data) == 1 {
			var k int
			k, err = w.Write(data[0])
			n = int64(k)
		} else if bw, ok := w.(buffersWriter); ok {
			n, err = bw.WriteBuffers(data)
		} else {
			v := net.Buffers(data)
			n, err = v.WriteTo(w) // one writev(2) to a socket
		}
		written += n
		bufs.Free() // w has copied the data: a socket or a netstack's send buffer
		if err != nil {
			return written, err
		}
	}
}

// fill receives until c.in holds data and returns nil, or returns
// how reading ends: io.EOF after the peer's eof, the stream's error, or
// net.ErrClosed after Close. Call it with recvMu held.
func (c *Conn) fill() error {
	for len(c.in.data) == 0 {
		if c.gotEOF {
			return io.EOF
		}
		if c.readErr != nil {
			return c.readErr
		}
		if c.isClosed() {
			return net.ErrClosed
		}
		c.in.release() // a frame without data
		err := c.s.RecvMsg(&c.in)
		if err != nil {
			if c.isClosed() {
				// Close ended the stream under this Recv.
				return net.ErrClosed
			}
			if errors.Is(err, io.EOF) {
				// The stream ended without an eof frame: the peer
				// went away mid-connection.
				err = io.ErrUnexpectedEOF
			}
			c.readErr = err
			continue
		}
		c.gotEOF = c.in.f.GetEof()
	}
	return nil
}

// drain receives until the stream ends, discarding what comes: after both
// eofs, the peer's end of the call. It holds recvMu, so it is the only
// receiver; a Read meanwhile has seen the eof and does not call Recv.
func (c *Conn) drain() {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	for {
		c.in.release()
		if err := c.s.RecvMsg(&c.in); err != nil {
			return
		}
	}
}

// ReadFrom implements io.ReaderFrom, so that io.Copy to a Conn (the relay)
// reads from r into a buffer that costs an idle connection little: a small
// one while r gives little, a pooled frame-sized one while r fills whole
// reads, given back as soon as it does not.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	var (
		small   [smallRead]byte
		big     *[]byte // from framePool while r keeps filling buffers
		written int64
	)
	defer func() {
		if big != nil {
			framePool.Put(big)
		}
	}()
	for {
		buf := small[:]
		if big != nil {
			buf = *big
		}
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return written, werr
			}
			written += int64(n)
		}
		switch {
		case big == nil && n == len(buf):
			big = framePool.Get(maxFrame)
		case big != nil && n < len(buf)/2:
			framePool.Put(big)
			big = nil
		}
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
}

// buffersWriter takes several buffers in one call, as one Write of their
// concatenation (stack.Conn).
type buffersWriter interface {
	WriteBuffers(bufs [][]byte) (int64, error)
}

// smallRead is the buffer ReadFrom reads into while little data comes.
const smallRead = 2 << 10

// Write sends b in frames of at most maxFrame bytes.
func (c *Conn) Write(b []byte) (int, error) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.sentEOF {
		return 0, errors.New("tunnel: write after CloseWrite")
	}
	written := 0
	for len(b) > 0 {
		n := min(len(b), maxFrame)
		if err := c.s.Send(&api.Frame{Data: b[:n]}); err != nil {
			if c.isClosed() {
				return written, net.ErrClosed
			}
			return written, err
		}
		written += n
		b = b[n:]
	}
	return written, nil
}

// WriteBuffers sends bufs as Write sends their concatenation: frames of
// up to maxFrame, each joined from the pieces in a pooled buffer. A relay
// from another Conn (the root's hop to a leaf) hands each received frame
// over as the buffers gRPC read it into, 16 KiB each, which would
// otherwise go on as a frame apiece.
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	var written int64
	i, off := 0, 0
	for i < len(bufs) {
		buf := framePool.Get(maxFrame)
		b := (*buf)[:0]
		for i < len(bufs) && len(b) < maxFrame {
			k := min(len(bufs[i])-off, maxFrame-len(b))
			b = append(b, bufs[i][off:off+k]...)
			if off += k; off == len(bufs[i]) {
				i, off = i+1, 0
			}
		}
		n, err := c.Write(b)
		framePool.Put(buf) // Send marshalled its own copy
		written += int64(n)
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// CloseWrite tells the peer no more data will come.
func (c *Conn) CloseWrite() error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.isClosed() {
		return net.ErrClosed
	}
	if c.sentEOF {
		return nil
	}
	c.sentEOF = true
	return c.s.Send(&api.Frame{Eof: true})
}

// Close ends the connection. If both directions finished with eof the
// stream ends gracefully; otherwise the peer sees an error.
func (c *Conn) Close() error {
	c.once.Do(func() {
		graceful := c.peerDone() && c.sentEOFDone()
		close(c.done)
		c.onClose(graceful)
	})
	return nil
}

// Done is closed once Close has been called.
func (c *Conn) Done() <-chan struct{} { return c.done }

func (c *Conn) sentEOFDone() bool {
	if !c.sendMu.TryLock() {
		return false // a Write is still in flight
	}
	defer c.sendMu.Unlock()
	return c.sentEOF
}

// peerDone reports, without waiting for a reader, whether the peer's eof
// has been read.
func (c *Conn) peerDone() bool {
	if !c.recvMu.TryLock() {
		return false
	}
	defer c.recvMu.Unlock()
	return c.gotEOF
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Deadlines are not supported: the relay that uses Conn ends it with Close.
func (c *Conn) SetDeadline(time.Time) error      { return os.ErrNoDeadline }
func (c *Conn) SetReadDeadline(time.Time) error  { return os.ErrNoDeadline }
func (c *Conn) SetWriteDeadline(time.Time) error { return os.ErrNoDeadline }

// Addr names one end of a tunnelled connection.
type Addr struct{ Desc string }

func (a Addr) Network() string { return "vnet-tunnel" }
func (a Addr) String() string  { return a.Desc }
