package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/tunnel"
)

// tunnels is the part of the proxy that serves dials: a user's
// (Tunnel.Dial) and, in a leaf cluster, a root user's (ServeRemoteDial).
// Each is authorized (rbac.go), routed to the app, its agent (route.go)
// or the leaf cluster it lives in (leaves.go), audited (audit.go) and
// relayed, tracked with the sessions it depends on (sessions.go).
type tunnels struct {
	cluster     string
	dialTimeout time.Duration
	dialApp     func(ctx context.Context, network, addr string) (net.Conn, error)
	log         *slog.Logger
	apps        *records // the apps dialled, read from the store (records.go)
	rbac        *rbac
	audit       *auditor
	sessions    *sessionSet
	life        *life
	agents      *agents // apps that agents registered are reached through them
	leaves      *leaves // apps of leaf clusters
	metrics     *clustermetrics.Proxy
}

// DialReply is how a dial is answered: on a user's Tunnel.Dial stream, or
// (in a leaf cluster) on the Connect stream that answers the root's dial.
type DialReply interface {
	// Reject answers with why the dial failed and the message for the
	// user.
	Reject(reason api.DialFailure, err error) error
	// Established answers with success and returns the connection to
	// relay with the app.
	Established() (*tunnel.Conn, error)
}

// streamReply answers on a Tunnel.Dial stream.
type streamReply struct {
	s          api.Tunnel_DialServer
	clientAddr string
}

func (r streamReply) Reject(reason api.DialFailure, err error) error {
	return tunnel.Reject(r.s, reason, err)
}
func (r streamReply) Established() (*tunnel.Conn, error) {
	return tunnel.Established(r.s, r.clientAddr)
}

// dial serves Tunnel.Dial: it reaches the app a user asked for and relays
// bytes until both sides are done.
//
// The handler returns as soon as the connection is closed; the relay
// goroutine finishes right after (Send and Recv fail once the handler has
// returned) and is tracked by the proxy's lifetime.
func (t *tunnels) dial(s api.Tunnel_DialServer) error {
	ctx := s.Context()
	id, err := identityFrom(ctx)
	if err != nil {
		return err
	}
	req, err := tunnel.Accept(s)
	if err != nil {
		return err
	}
	reply := countedReply{streamReply{s: s, clientAddr: req.GetClientAddr()}, t.metrics}
	if c := req.GetCluster(); c != "" && c != t.cluster {
		return t.leaves.dial(ctx, id, req, reply)
	}
	return t.serve(ctx, id, false, req, reply)
}

// serve authorizes id's dial of req in this cluster, reaches the app
// and relays. remote marks a root cluster's user (whose roles were mapped
// by the trusted_cluster): such a session is not re-checked against this
// cluster's users, which do not include them; it ends with the leaf's
// tunnel.
func (t *tunnels) serve(ctx context.Context, id auth.Identity, remote bool, req *api.DialRequest, reply DialReply) error {
	sess := session{
		User: id.User, Cluster: t.cluster, App: req.GetApp(),
		Port: req.GetPort(), ClientAddr: req.GetClientAddr(), Start: time.Now(),
	}
	sess.addrs(ctx, remote, req)
	if why := checkDialFields(req); why != "" {
		sess.Err = errors.New(why)
		t.audit.rejected(sess)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, sess.Err)
	}
	app, err := t.apps.app(ctx, req.GetApp())
	if errors.Is(err, state.ErrNotFound) {
		sess.Err = fmt.Errorf("no app %q in cluster %s", req.GetApp(), t.cluster)
		t.audit.rejected(sess)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_NOT_FOUND, sess.Err)
	}
	if err != nil {
		return reply.Reject(api.DialFailure_DIAL_FAILURE_INTERNAL, err)
	}
	// A multi-port app is dialled on the client's port, if it listens
	// there; a single-port app on its uri's port, whatever the client used.
	target, ok := app.Spec.Target(uint16(req.GetPort()))
	if !ok {
		sess.Err = fmt.Errorf("app %q does not listen on port %d (its tcp_ports)", app.Name(), req.GetPort())
		t.audit.rejected(sess)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, sess.Err)
	}
	app = app.WithTarget(target)
	if err := t.rbac.authorize(ctx, id, app); err != nil {
		sess.Err = err
		t.audit.rejected(sess)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_DENIED, err)
	}
	appConn, target, agent, err := t.route(ctx, app)
	sess.Target = target
	if err != nil {
		// Refused, unreachable and timed out look the same to a TCP
		// client: its connection is refused.
		sess.Err = err
		t.audit.rejected(sess)
		return reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	// Counted before the client hears of the session, so that the
	// gauge never lags a session the client already uses.
	ended := t.metrics.SessionStarted()
	conn, err := reply.Established()
	if err != nil {
		ended(0, 0)
		appConn.Close()
		return err
	}
	t.audit.start(sess)
	finished := make(chan struct{})
	t.life.spawn(func() {
		defer close(finished)
		sctx, untrack := t.life.ctx, func() {}
		if !remote {
			sctx, untrack = t.sessions.trackSession(id, app, agent)
		}
		defer untrack()
		res, err := relay.Splice(sctx, conn, appConn)
		ended(res.AToB, res.BToA)
		sess.BytesIn, sess.BytesOut, sess.Err = res.AToB, res.BToA, err
		t.audit.end(sess)
	})
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}

// Bounds of a dial request's strings: an app or cluster name is at most a
// DNS name, an address at most an IPv6 address with a zone and a port.
const (
	maxDialNameLen = 253
	maxDialAddrLen = 128
)

// checkDialFields says why req carries a string too long to be a name or
// an address, or "": such a request is refused before anything looks its
// fields up.
func checkDialFields(req *api.DialRequest) string {
	for _, f := range []struct {
		what string
		v    string
		max  int
	}{
		{"app name", req.GetApp(), maxDialNameLen},
		{"cluster name", req.GetCluster(), maxDialNameLen},
		{"client address", req.GetClientAddr(), maxDialAddrLen},
	} {
		if len(f.v) > f.max {
			return fmt.Sprintf("dial request: the %s is %d bytes, at most %d", f.what, len(f.v), f.max)
		}
	}
	return ""
}
