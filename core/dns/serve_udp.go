package dns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	mdns "github.com/miekg/dns"
)

// ServeUDP answers the queries that arrive on pc until ctx is done, the
// Server is closed, or pc is closed; those three return nil, any other read
// error is returned. ServeUDP owns pc: it closes it, and returns only after
// every query it read has been answered or abandoned.
func (s *Server) ServeUDP(ctx context.Context, pc net.PacketConn) error {
	ctx, done, err := s.startServe(ctx)
	if err != nil {
		return err
	}
	defer done()
	var handlers sync.WaitGroup
	defer func() {
		pc.Close()
		handlers.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { pc.Close() }) // unblocks ReadFrom
	defer stop()

	buf := make([]byte, mdns.MaxMsgSize)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("dns: read udp: %w", err)
		}
		select {
		case s.querySlots <- struct{}{}:
		default:
			// Full: drop, the client retries (see the package doc).
			s.stats.dropped.Add(1)
			continue
		}
		pkt := bytes.Clone(buf[:n])
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			defer func() { <-s.querySlots }()
			s.answerUDP(ctx, pc, addr, pkt)
		}()
	}
}

func (s *Server) answerUDP(ctx context.Context, pc net.PacketConn, addr net.Addr, pkt []byte) {
	req := new(mdns.Msg)
	if err := req.Unpack(pkt); err != nil {
		// Ignored rather than answered FORMERR: a reply to garbage
		// from a spoofed source would make us a reflector.
		s.stats.malformed.Add(1)
		return
	}
	resp := s.Handle(ctx, req)
	if resp == nil {
		return
	}
	b, err := pack(resp, req, clientUDPSize(req))
	if err != nil {
		s.cfg.Logger.DebugContext(ctx, "dns: pack answer", "err", err)
		return
	}
	if _, err := pc.WriteTo(b, addr); err != nil && ctx.Err() == nil {
		s.cfg.Logger.DebugContext(ctx, "dns: write udp answer", "to", addr, "err", err)
	}
}
