package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// recheckInterval is how often open sessions are checked against the
// store: a user removed or a role changed through another proxy (or by
// editing the store) cuts the sessions it no longer allows within this
// time. Removals through this proxy cut at once. A var for tests.
var recheckInterval = 30 * time.Second

// sessionSet is the tunnelled connections open at this proxy, so that
// they can be cut when their user loses access.
type sessionSet struct {
	mu   sync.Mutex
	open map[*openSession]struct{} // guarded by mu
}

type openSession struct {
	user   string
	app    *resource.App // as it was when dialled
	cancel context.CancelCauseFunc
	// leaf is set for a session with an app of a leaf cluster (app is
	// then only its name): the leaf checks roles, this proxy the user.
	leaf string
	// generation is that of the user record the session's certificate
	// was issued for: a new user of the same name does not keep it open.
	generation string
}

// trackSession returns the context a session's relay runs under and the
// function that forgets the session when it ends.
func (s *Server) trackSession(id auth.Identity, app *resource.App) (context.Context, func()) {
	return s.track(&openSession{user: id.User, generation: id.Generation, app: app})
}

func (s *Server) track(o *openSession) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(s.ctx)
	o.cancel = cancel
	s.sessions.mu.Lock()
	if s.sessions.open == nil {
		s.sessions.open = make(map[*openSession]struct{})
	}
	s.sessions.open[o] = struct{}{}
	s.sessions.mu.Unlock()
	return ctx, func() {
		s.sessions.mu.Lock()
		delete(s.sessions.open, o)
		s.sessions.mu.Unlock()
		cancel(nil)
	}
}

// cutSessions closes the open sessions for which drop returns a non-nil
// reason and returns how many it closed.
func (s *Server) cutSessions(drop func(*openSession) error) int {
	s.sessions.mu.Lock()
	list := make([]*openSession, 0, len(s.sessions.open))
	for o := range s.sessions.open {
		list = append(list, o)
	}
	s.sessions.mu.Unlock()
	n := 0
	for _, o := range list {
		if reason := drop(o); reason != nil {
			o.cancel(reason)
			n++
			s.cfg.Logger.Info("session cut", "user", o.user, "app", o.app.Name(), "reason", reason)
		}
	}
	return n
}

// cutUser closes every open session of user.
func (s *Server) cutUser(user string) int {
	return s.cutSessions(func(o *openSession) error {
		if o.user == user {
			return fmt.Errorf("user %q was removed", user)
		}
		return nil
	})
}

// recheckSessions runs until the proxy closes, cutting sessions whose
// user is gone or whose roles no longer allow their app.
func (s *Server) recheckSessions() {
	defer s.wg.Done()
	tick := time.NewTicker(recheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.cutSessions(func(o *openSession) error {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			defer cancel()
			u, err := s.cfg.Auth.GetUser(ctx, o.user)
			if errors.Is(err, auth.ErrUnknownUser) {
				return err
			}
			if err != nil {
				return nil // the store is unwell: keep the session, look again later
			}
			if !(auth.Identity{User: o.user, Generation: o.generation}).IssuedFor(u) {
				return fmt.Errorf("%w: user %q was removed and created again", auth.ErrRevoked, o.user)
			}
			if o.leaf != "" {
				return nil
			}
			if err := s.authorize(ctx, auth.Identity{User: u.Name, Roles: u.Roles}, o.app); errors.Is(err, auth.ErrAccessDenied) {
				return err
			}
			return nil
		})
	}
}
