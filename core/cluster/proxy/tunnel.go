package proxy

import (
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
// are done. The steps are seams of their own: authorize (rbac.go), reach
// the app (route.go), record the session (audit.go).
//
// The handler returns as soon as the connection is closed; the relay
// goroutine finishes right after (Send and Recv fail once the handler has
// returned) and is tracked by the server's WaitGroup.
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
	sess := session{
		User: id.User, Cluster: t.s.cfg.ClusterName, App: req.GetApp(),
		Port: req.GetPort(), ClientAddr: req.GetClientAddr(), Start: time.Now(),
	}
	app, err := t.s.cfg.State.App(ctx, req.GetApp())
	if errors.Is(err, state.ErrNotFound) {
		sess.Err = fmt.Errorf("no app %q in cluster %s", req.GetApp(), t.s.cfg.ClusterName)
		t.s.auditRejected(sess)
		return tunnel.Reject(s, "not_found", sess.Err)
	}
	if err != nil {
		return tunnel.Reject(s, "internal", err)
	}
	// A multi-port app is dialled on the client's port, if it listens
	// there; a single-port app on its uri's port, whatever the client used.
	target, ok := app.Spec.Target(uint16(req.GetPort()))
	if !ok {
		sess.Err = fmt.Errorf("app %q does not listen on port %d (its tcp_ports)", app.Name(), req.GetPort())
		t.s.auditRejected(sess)
		return tunnel.Reject(s, "refused", sess.Err)
	}
	app = app.WithTarget(target)
	if err := t.s.authorize(ctx, id, app); err != nil {
		sess.Err = err
		t.s.auditRejected(sess)
		return tunnel.Reject(s, "denied", err)
	}
	appConn, target, err := t.s.dialApp(ctx, app)
	sess.Target = target
	if err != nil {
		// Refused, unreachable and timed out look the same to a TCP
		// client: its connection is refused.
		sess.Err = err
		t.s.auditRejected(sess)
		return tunnel.Reject(s, "refused", err)
	}
	conn, err := tunnel.Established(s, req.GetClientAddr())
	if err != nil {
		appConn.Close()
		return err
	}
	t.s.auditStart(sess)
	finished := make(chan struct{})
	t.s.wg.Add(1)
	go func() {
		defer t.s.wg.Done()
		defer close(finished)
		sctx, untrack := t.s.trackSession(id.User, app)
		defer untrack()
		res, err := relay.Splice(sctx, conn, appConn)
		sess.BytesIn, sess.BytesOut, sess.Err = res.AToB, res.BToA, err
		t.s.auditEnd(sess)
	}()
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}
