package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/audit"
	"github.com/vnetproject/vnet/core/cluster/auth"
)

// AuditLog is where the proxy records sessions: the cluster's durable
// audit log (audit.Log) in production.
type AuditLog interface {
	// Emit records ev without blocking the caller.
	Emit(ev audit.Event)
	// Search reads recorded events.
	Search(ctx context.Context, q audit.Query) ([]audit.Event, error)
}

// session is one tunnelled connection as the audit log records it.
type session struct {
	User, Cluster, App string
	Port               uint32
	ClientAddr, Target string
	Start              time.Time
	BytesIn, BytesOut  int64 // client to app, app to client
	Err                error
	// ReportedAddr is the client's own word on its address (ClientAddr is
	// what this proxy, or the root's proxy for a root's user, saw).
	ReportedAddr string
}

// id ties a session's start and end events together. It is derived from
// what both know (the copies passed to auditStart and auditEnd are
// separate values).
func (sess *session) id() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s\x00%d", sess.User, sess.Cluster, sess.App, sess.Port, sess.ClientAddr, sess.Start.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// addrs sets the session's addresses: the TLS peer of ctx's connection,
// and the address the client reported as an extra. A root cluster's
// user (remote) comes through the leaf's own connection to the root: the
// root's proxy saw the client, and reports both in req.
func (sess *session) addrs(ctx context.Context, remote bool, req *api.DialRequest) {
	if remote {
		sess.ClientAddr, sess.ReportedAddr = req.GetClientAddr(), req.GetClientReportedAddr()
		return
	}
	sess.ClientAddr, sess.ReportedAddr = peerAddr(ctx), req.GetClientAddr()
}

func (sess *session) event(typ string) audit.Event {
	ev := audit.Event{
		Type: typ, SessionID: sess.id(), User: sess.User, Cluster: sess.Cluster, App: sess.App,
		Port: sess.Port, Target: sess.Target, ClientAddr: sess.ClientAddr, ClientReportedAddr: sess.ReportedAddr,
	}
	if sess.Err != nil {
		ev.Error = sess.Err.Error()
	}
	return ev
}

// The proxy's log gets every event too; the audit log, when configured,
// keeps them.

func (s *Server) auditStart(sess session) {
	ev := sess.event(audit.SessionStart)
	ev.Time = sess.Start
	s.cfg.Logger.Info(ev.Type, "user", sess.User, "app", clip(sess.App), "port", sess.Port, "target", sess.Target, "client", sess.ClientAddr, "client_reported", clip(sess.ReportedAddr))
	s.emit(ev)
}

func (s *Server) auditEnd(sess session) {
	ev := sess.event(audit.SessionEnd)
	ev.Time = time.Now()
	ev.BytesIn, ev.BytesOut, ev.Duration = sess.BytesIn, sess.BytesOut, ev.Time.Sub(sess.Start)
	s.cfg.Logger.Info(ev.Type, "user", sess.User, "app", sess.App, "target", sess.Target,
		"bytes_in", sess.BytesIn, "bytes_out", sess.BytesOut, "duration", ev.Duration.Round(time.Millisecond), "err", sess.Err)
	s.emit(ev)
}

func (s *Server) auditRejected(sess session) {
	ev := sess.event(audit.SessionRejected)
	ev.Time = time.Now()
	s.cfg.Logger.Info(ev.Type, "user", sess.User, "app", clip(sess.App), "port", sess.Port, "client", sess.ClientAddr, "client_reported", clip(sess.ReportedAddr), "err", clip(errString(sess.Err)))
	s.emit(ev)
}

// auditAgentClaimRefused records that an agent's claim of an app was
// refused.
func (s *Server) auditAgentClaimRefused(agent string, c claimRefusal) {
	s.auditClaimRefused(auth.AgentUserPrefix+agent, c)
}

// auditClaimRefused records that who's claim of an app (an agent's, or an
// administrator's 'vnet ctl create') was refused.
func (s *Server) auditClaimRefused(who string, c claimRefusal) {
	ev := audit.Event{Time: time.Now(), Type: audit.AppClaimRefused, User: who, Cluster: s.cfg.ClusterName, App: c.App, Error: c.Reason}
	s.cfg.Logger.Warn(ev.Type, "by", who, "app", c.App, "reason", c.Reason)
	s.emit(ev)
}

func (s *Server) emit(ev audit.Event) {
	if s.cfg.Audit != nil {
		s.cfg.Audit.Emit(ev)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
