package mtls

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/credentials"
)

// Coalescing wraps TLS transport credentials so that the TLS records of
// one Write on the connection (gRPC's flush of its write buffer) reach the
// socket in one write(2), not one per record: crypto/tls writes each
// record of at most 16 KiB on its own, and with TCP_NODELAY (Go's
// default) each becomes a packet of its own through both kernels.
func Coalescing(c credentials.TransportCredentials) credentials.TransportCredentials {
	return coalescing{c}
}

type coalescing struct {
	credentials.TransportCredentials
}

func (c coalescing) ClientHandshake(ctx context.Context, authority string, raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	b := &batchConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ClientHandshake(ctx, authority, b)
	if err != nil {
		return nil, nil, err
	}
	return &flushConn{Conn: conn, b: b}, info, nil
}

func (c coalescing) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	b := &batchConn{Conn: raw}
	conn, info, err := c.TransportCredentials.ServerHandshake(b)
	if err != nil {
		return nil, nil, err
	}
	return &flushConn{Conn: conn, b: b}, info, nil
}

func (c coalescing) Clone() credentials.TransportCredentials {
	return coalescing{c.TransportCredentials.Clone()}
}

// flushConn is the TLS connection: a Write's records are held in b and
// written together once the TLS layer has written them all.
type flushConn struct {
	net.Conn // the TLS connection
	b        *batchConn

	// writes counts the Writes in progress, closing is set by Close:
	// each checks the other after setting its own, so either the Write
	// sees Close or Close sees the Write.
	writes  atomic.Int32
	closing atomic.Bool
}

func (f *flushConn) Write(p []byte) (int, error) {
	f.writes.Add(1)
	defer f.writes.Add(-1)
	if f.closing.Load() {
		return 0, net.ErrClosed
	}
	f.b.hold()
	n, err := f.Conn.Write(p)
	if ferr := f.b.release(); err == nil {
		err = ferr
	}
	return n, err
}

// Close closes the socket at once while a Write is in progress, as
// crypto/tls does for a Write within its own call: the Write's records
// may be blocked in the socket's write, outside crypto/tls's call, by a
// peer that stopped reading, and crypto/tls's Close would then queue its
// close_notify behind them and wait for the 5 s write deadline it sets
// for it (gRPC closes a connection whose peer stopped answering so).
func (f *flushConn) Close() error {
	f.closing.Store(true)
	if f.writes.Load() > 0 {
		f.b.Conn.Close()
	}
	return f.Conn.Close()
}

// batchConn is the socket under TLS. While held, what TLS writes is kept;
// at other times a write goes out at once, after anything kept (so records
// keep their order: TLS numbers them).
type batchConn struct {
	net.Conn
	mu    sync.Mutex
	holds int
	buf   []byte
	err   error // sticky: the socket failed
}

func (b *batchConn) hold() {
	b.mu.Lock()
	b.holds++
	b.mu.Unlock()
}

// release ends a hold and, if none is left, writes what was kept.
func (b *batchConn) release() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.holds--
	if b.holds > 0 || len(b.buf) == 0 {
		return b.err
	}
	return b.flushLocked(nil)
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.holds > 0 {
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if err := b.flushLocked(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// flushLocked writes what is kept, then p.
func (b *batchConn) flushLocked(p []byte) error {
	out := p
	if len(b.buf) > 0 {
		b.buf = append(b.buf, p...)
		out = b.buf
	}
	if len(out) > 0 {
		if _, err := b.Conn.Write(out); err != nil {
			b.err = err
		}
	}
	b.buf = b.buf[:0]
	return b.err
}
