package proxy

import (
	"time"
)

// session is one tunnelled connection as the audit log records it.
type session struct {
	User, Cluster, App string
	Port               uint32
	ClientAddr, Target string
	Start              time.Time
	BytesIn, BytesOut  int64 // client to app, app to client
	Err                error
}

// The audit log is not durable yet: sessions go to the proxy's log.

func (s *Server) auditStart(sess session) {
	s.cfg.Logger.Info("app.session.start", "user", sess.User, "app", sess.App, "port", sess.Port, "target", sess.Target, "client", sess.ClientAddr)
}

func (s *Server) auditEnd(sess session) {
	s.cfg.Logger.Info("app.session.end", "user", sess.User, "app", sess.App, "target", sess.Target,
		"bytes_in", sess.BytesIn, "bytes_out", sess.BytesOut, "duration", time.Since(sess.Start).Round(time.Millisecond), "err", sess.Err)
}

func (s *Server) auditRejected(sess session) {
	s.cfg.Logger.Info("app.session.rejected", "user", sess.User, "app", sess.App, "port", sess.Port, "client", sess.ClientAddr, "err", sess.Err)
}
