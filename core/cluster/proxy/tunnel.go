package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/tunnel"
)

type tunnelServer struct {
	api.UnimplementedTunnelServer
	s *Server
}

// Dial reaches the app a user asked for and relays bytes until both sides
// are done. The handler returns as soon as the connection is closed; the
// relay goroutine finishes right after (Send and Recv fail once the
// handler has returned) and is tracked by the server's WaitGroup.
func (t *tunnelServer) Dial(s api.Tunnel_DialServer) error {
	ctx := s.Context()
	id, err := identityFrom(ctx)
	if err != nil {
		return err
	}
	req, err := tunnel.Accept(s)
	if err != nil {
		return err
	}
	log := t.s.cfg.Logger.With("user", id.User, "app", req.GetApp(), "port", req.GetPort(), "client", req.GetClientAddr())

	app, err := t.s.cfg.State.App(ctx, req.GetApp())
	if errors.Is(err, state.ErrNotFound) {
		log.Info("dial: no such app")
		return tunnel.Reject(s, "not_found", fmt.Errorf("no app %q in cluster %s", req.GetApp(), t.s.cfg.ClusterName))
	}
	if err != nil {
		return tunnel.Reject(s, "internal", err)
	}
	target, err := appTarget(app)
	if err != nil {
		return tunnel.Reject(s, "internal", err)
	}
	dctx, cancel := context.WithTimeout(ctx, t.s.cfg.DialTimeout)
	appConn, err := t.s.cfg.DialApp(dctx, "tcp", target)
	cancel()
	if err != nil {
		log.Info("dial: app unreachable", "target", target, "err", err)
		// Refused, unreachable and timed out look the same to a TCP
		// client: its connection is refused.
		return tunnel.Reject(s, "refused", fmt.Errorf("app %q at %s: %v", req.GetApp(), target, err))
	}
	conn, err := tunnel.Established(s, req.GetClientAddr())
	if err != nil {
		appConn.Close()
		return err
	}
	start := time.Now()
	log.Info("session start", "target", target)
	finished := make(chan struct{})
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		defer close(finished)
		res, err := relay.Splice(t.s.ctx, conn, appConn)
		log.Info("session end", "target", target, "bytes_in", res.AToB, "bytes_out", res.BToA, "duration", time.Since(start).Round(time.Millisecond), "err", err)
	}()
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}
