package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// ServeTCP answers queries on the connections accepted from l until ctx is
// done, the Server is closed, or l is closed; those return nil, any other
// accept error is returned. ServeTCP owns l: it closes it, closes every
// connection it accepted, and returns only when their goroutines are gone.
//
// Queries on one connection are answered in order, one at a time
// (RFC 7766 allows it); a client wanting parallelism opens more
// connections, up to Config.MaxTCPConns.
func (s *Server) ServeTCP(ctx context.Context, l net.Listener) error {
	ctx, done, err := s.startServe(ctx)
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithCancel(ctx)
	var conns sync.WaitGroup
	defer func() {
		cancel() // closes the connections
		l.Close()
		conns.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { l.Close() }) // unblocks Accept
	defer stop()

	var backoff time.Duration
	for {
		select {
		case s.connSlots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := l.Accept()
		if err != nil {
			<-s.connSlots
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
				return fmt.Errorf("dns: accept tcp: %w", err)
			}
			// Out of descriptors: wait for some to free rather than
			// give up on TCP for good (net/http does the same).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.cfg.Logger.WarnContext(ctx, "dns: accept tcp", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		backoff = 0
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer func() { <-s.connSlots }()
			s.serveConn(ctx, c)
		}()
	}
}

// serveConn answers the queries of one TCP connection until the client
// closes it, goes idle, sends something unparseable, or ctx ends.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()

	idle := s.cfg.TCPIdleTimeout
	var hdr [2]byte
	for {
		c.SetReadDeadline(time.Now().Add(idle))
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		pkt := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c, pkt); err != nil {
			return
		}
		req := new(mdns.Msg)
		if err := req.Unpack(pkt); err != nil {
			s.stats.malformed.Add(1)
			return
		}
		// Wait for a slot: TCP flow control pushes back on the client.
		select {
		case s.querySlots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		resp := s.Handle(ctx, req)
		<-s.querySlots
		if resp == nil {
			continue
		}
		b, err := pack(resp, req, mdns.MaxMsgSize, nil)
		if err != nil {
			s.cfg.Logger.DebugContext(ctx, "dns: pack answer", "err", err)
			return
		}
		out := make([]byte, 2+len(b))
		binary.BigEndian.PutUint16(out, uint16(len(b)))
		copy(out[2:], b)
		c.SetWriteDeadline(time.Now().Add(idle))
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}
