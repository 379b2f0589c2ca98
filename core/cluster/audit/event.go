// Package audit is the cluster's durable audit log: session events of
// tunnelled app connections, kept in the cluster's store under keys that
// sort by time, written off the data path through a bounded queue.
package audit

import (
	"time"
)

// Event types.
const (
	// SessionStart: a tunnelled connection reached its app.
	SessionStart = "app.session.start"
	// SessionEnd: a tunnelled connection ended; it carries the bytes and
	// the duration.
	SessionEnd = "app.session.end"
	// SessionRejected: a dial was denied or failed (no such app, access
	// denied, app unreachable).
	SessionRejected = "app.session.rejected"
	// AppClaimRefused: the cluster refused a claim of an app (User is
	// "agent:<id>" for an agent, audited once while it repeats the same
	// claim; the administrator for 'vnet ctl create'; "cluster.yaml" at
	// start), Error the reason.
	AppClaimRefused = "app.claim.refused"
	// LeafClaimRefused: the root dropped a claim of a leaf cluster (a
	// zone, its range, its proxy's host or an app's address) from what it
	// sends its users; Error is the one-line reason. Written once per
	// refusal, not at every catalog pass.
	LeafClaimRefused = "leaf.claim.refused"
	// Dropped: events were lost because the store could not keep up (or
	// a flood of rejections filled their share of the queue); Count says
	// how many. A count not yet recorded when the daemon stopped is
	// recorded at its next start.
	Dropped = "audit.dropped"
)

// Event is one audit record.
type Event struct {
	Time time.Time `json:"time"`
	Type string    `json:"event"`
	// SessionID ties a session's start and end together.
	SessionID  string `json:"session_id,omitempty"`
	User       string `json:"user,omitempty"`
	Cluster    string `json:"cluster,omitempty"`
	App        string `json:"app,omitempty"`
	Port       uint32 `json:"port,omitempty"`
	Target     string `json:"target,omitempty"`
	ClientAddr string `json:"client_addr,omitempty"`
	// ClientAddr is the address the proxy saw the client's connection
	// come from (its TLS peer; for a root cluster's user, the address the
	// root's proxy saw). ClientReportedAddr is the address the client
	// says it connected from (its side of the tunnelled connection, as
	// the laptop saw it): useful to tell a user's programs apart, but the
	// client's word only.
	ClientReportedAddr string `json:"client_reported_addr,omitempty"`
	// BytesIn went from the client to the app, BytesOut back.
	BytesIn  int64         `json:"bytes_in,omitempty"`
	BytesOut int64         `json:"bytes_out,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Count is the number of events lost, for Dropped.
	Count int64 `json:"count,omitempty"`
}
