package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
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
// what both know (the copies passed to start and end are
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

// auditor records the proxy's events: the proxy's log gets every one,
// the audit log (sink), when configured, keeps them.
type auditor struct {
	cluster string
	log     *slog.Logger // never nil
	sink    AuditLog     // nil: the log only
}

func (a *auditor) start(sess session) {
	ev := sess.event(audit.SessionStart)
	ev.Time = sess.Start
	a.log.Info(ev.Type, "user", sess.User, "app", clip(sess.App), "port", sess.Port, "target", sess.Target, "client", sess.ClientAddr, "client_reported", clip(sess.ReportedAddr))
	a.emit(ev)
}

func (a *auditor) end(sess session) {
	ev := sess.event(audit.SessionEnd)
	ev.Time = time.Now()
	ev.BytesIn, ev.BytesOut, ev.Duration = sess.BytesIn, sess.BytesOut, ev.Time.Sub(sess.Start)
	a.log.Info(ev.Type, "user", sess.User, "app", sess.App, "target", sess.Target,
		"bytes_in", sess.BytesIn, "bytes_out", sess.BytesOut, "duration", ev.Duration.Round(time.Millisecond), "err", sess.Err)
	a.emit(ev)
}

func (a *auditor) rejected(sess session) {
	ev := sess.event(audit.SessionRejected)
	ev.Time = time.Now()
	a.log.Info(ev.Type, "user", sess.User, "app", clip(sess.App), "port", sess.Port, "client", sess.ClientAddr, "client_reported", clip(sess.ReportedAddr), "err", clip(errString(sess.Err)))
	a.emit(ev)
}

// agentClaimRefused records that an agent's claim of an app was
// refused.
func (a *auditor) agentClaimRefused(agent string, c claimRefusal) {
	a.claimRefused(auth.AgentUserPrefix+agent, c)
}

// claimRefused records that who's claim of an app (an agent's, or an
// administrator's 'vnet ctl create') was refused.
func (a *auditor) claimRefused(who string, c claimRefusal) {
	ev := audit.Event{Time: time.Now(), Type: audit.AppClaimRefused, User: who, Cluster: a.cluster, App: c.App, Error: c.Reason}
	a.log.Warn(ev.Type, "by", who, "app", c.App, "reason", c.Reason)
	a.emit(ev)
}

func (a *auditor) emit(ev audit.Event) {
	if a.sink != nil {
		a.sink.Emit(ev)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
