package proxy

import (
	"errors"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustermetrics"
	"github.com/vnetproject/vnet/core/tunnel"
)

// What the proxy's parts tell Config.Metrics (docs/metrics.md). Each hook
// is one call where the thing happens; a nil *clustermetrics.Proxy
// counts nothing.

// followGauges makes the metrics' connected gauges read the parts.
func (s *Server) followGauges() {
	s.cfg.Metrics.Follow(func() clustermetrics.Gauges {
		return clustermetrics.Gauges{
			Agents:   s.agents.hub.links.len(),
			Leaves:   s.leaves.links.len(),
			Watchers: s.sessions.watches(),
		}
	})
}

// len is how many links are attached.
func (s *linkSet[L]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// watches is how many catalog watches are open.
func (s *sessionSet) watches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for o := range s.open {
		if o.app == nil {
			n++
		}
	}
	return n
}

// countedReply counts how a user's dial was answered.
type countedReply struct {
	DialReply
	m *clustermetrics.Proxy
}

func (r countedReply) Reject(reason api.DialFailure, err error) error {
	counted := reason
	if counted == api.DialFailure_DIAL_FAILURE_UNSPECIFIED {
		counted = api.DialFailure_DIAL_FAILURE_INTERNAL // a rejection is never a success
	}
	r.m.Dial(counted)
	return r.DialReply.Reject(reason, err)
}

func (r countedReply) Established() (*tunnel.Conn, error) {
	c, err := r.DialReply.Established()
	if err == nil {
		r.m.Dial(api.DialFailure_DIAL_FAILURE_UNSPECIFIED)
	}
	return c, err
}

// loginFailure is the reason label of a failed login's err.
func loginFailure(err error) string {
	switch {
	case errors.Is(err, auth.ErrTooManyLogins):
		return clustermetrics.LoginLimited
	case errors.Is(err, auth.ErrLoginBusy):
		return clustermetrics.LoginBusy
	}
	return clustermetrics.LoginRejected
}
