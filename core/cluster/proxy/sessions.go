package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
)

// Streams that end when the right ends (issue 10). Every data tunnel and
// catalog watch a user holds at this proxy is tracked here, with what it
// depends on: the user's record (by generation), the roles that allow
// its app, the agent it goes through, the leaf cluster it goes to. A
// change made through this proxy ('users rm', a user's or a role's or an
// app's write, 'agents rm', 'rm remote_cluster') cuts what it ends before
// the admin call returns; a change made elsewhere (another proxy on a
// shared store, the store itself) is found by the recheck every
// recheckInterval. A store that does not answer keeps the streams open:
// they are looked at again at the next pass.

// recheckInterval is how often open streams are checked against the
// store. A var for tests.
var recheckInterval = time.Second

// recheckTimeout bounds one pass's store reads.
const recheckTimeout = 10 * time.Second

// sessionSet is the tunnels and watches open at this proxy, so that they
// can be cut when their user loses access.
type sessionSet struct {
	log   *slog.Logger
	auth  *auth.Service // users and agents, as the recheck reads them
	state *state.State  // roles and apps, as the recheck reads them
	life  *life

	mu   sync.Mutex
	open map[*openSession]struct{} // guarded by mu
	// recheck serializes passes: the loop's and the admin calls'.
	recheck sync.Mutex
}

type openSession struct {
	user string
	// generation is that of the user record the session's certificate
	// was issued for: a new user of the same name does not keep it open.
	generation string
	// app is the app as it was when dialled; nil for a catalog watch,
	// which depends on its user only (what it shows follows the roles).
	app *resource.App
	// leaf is set for a session with an app of a leaf cluster (app is
	// then only its name): the leaf checks roles, this proxy the user
	// and the leaf's trust.
	leaf string
	// agent is the agent the tunnel goes through (this proxy's or
	// another's); "" for an app the proxy dials itself.
	agent  string
	cancel context.CancelCauseFunc
	// quiet, if set, returns once the stream can send nothing more
	// (a watch's send in flight has finished); called after cancel.
	quiet func()
}

func (o *openSession) what() string {
	switch {
	case o.app == nil:
		return "catalog watch"
	case o.leaf != "":
		return "tunnel to " + o.app.Name() + " in " + o.leaf
	default:
		return "tunnel to " + o.app.Name()
	}
}

// trackSession returns the context a session's relay runs under and the
// function that forgets the session when it ends.
func (s *sessionSet) trackSession(id auth.Identity, app *resource.App, agent string) (context.Context, func()) {
	return s.track(s.life.ctx, &openSession{user: id.User, generation: id.Generation, app: app, agent: agent})
}

// track adds o to the open sessions; its context is parent's, cancelled
// with the reason when o is cut.
func (s *sessionSet) track(parent context.Context, o *openSession) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	o.cancel = cancel
	s.mu.Lock()
	if s.open == nil {
		s.open = make(map[*openSession]struct{})
	}
	s.open[o] = struct{}{}
	s.mu.Unlock()
	return ctx, func() {
		s.mu.Lock()
		delete(s.open, o)
		s.mu.Unlock()
		cancel(nil)
	}
}

// quietTimeout bounds how long a cut waits for a watch's send in flight
// (a client that reads nothing may hold one until its connection ends).
const quietTimeout = 2 * time.Second

// cut closes the open sessions for which drop returns a non-nil
// reason and returns how many it closed. It returns once they can send
// nothing more (within quietTimeout).
func (s *sessionSet) cut(drop func(*openSession) error) int {
	s.mu.Lock()
	list := make([]*openSession, 0, len(s.open))
	for o := range s.open {
		list = append(list, o)
	}
	s.mu.Unlock()
	var cut []*openSession
	for _, o := range list {
		if reason := drop(o); reason != nil {
			o.cancel(reason)
			cut = append(cut, o)
			s.log.Info("session cut", "user", o.user, "stream", o.what(), "reason", reason)
		}
	}
	var wg sync.WaitGroup
	for _, o := range cut {
		if o.quiet != nil {
			wg.Add(1)
			go func() { defer wg.Done(); o.quiet() }()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(quietTimeout):
	}
	return len(cut)
}

// cutUser closes every open session of user.
func (s *sessionSet) cutUser(user string) int {
	return s.cut(func(o *openSession) error {
		if o.user == user {
			return fmt.Errorf("user %q was removed", user)
		}
		return nil
	})
}

// cutAgent closes every tunnel through agent.
func (s *sessionSet) cutAgent(agent string) int {
	return s.cut(func(o *openSession) error {
		if o.agent == agent {
			return fmt.Errorf("agent %s was removed from the cluster", agent)
		}
		return nil
	})
}

// cutLeaf closes every tunnel to leaf.
func (s *sessionSet) cutLeaf(leaf string) int {
	return s.cut(func(o *openSession) error {
		if o.leaf == leaf {
			return fmt.Errorf("the trust of leaf cluster %s was removed", leaf)
		}
		return nil
	})
}

// recheckLoop runs until the proxy closes, cutting every
// recheckInterval the sessions the store no longer allows.
func (s *sessionSet) recheckLoop() {
	tick := time.NewTicker(recheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.life.ctx.Done():
			return
		case <-tick.C:
		}
		s.recheckNow()
	}
}

// recheckNow makes one pass over the open sessions and cuts those whose
// user is gone (or was made again), whose roles no longer allow their
// app, whose agent was removed or whose leaf's trust was. Each record is
// read once per pass, however many sessions depend on it. It returns how
// many it cut.
func (s *sessionSet) recheckNow() int {
	s.recheck.Lock()
	defer s.recheck.Unlock()
	ctx, cancel := context.WithTimeout(s.life.ctx, recheckTimeout)
	defer cancel()
	p := &recheckPass{set: s, ctx: ctx,
		users: map[string]userLookup{}, roles: map[string]roleLookup{},
		agents: map[string]error{}, apps: map[string]*resource.App{},
	}
	return s.cut(p.drop)
}

// recheckPass caches what one recheck read from the store.
type recheckPass struct {
	set *sessionSet
	ctx context.Context

	users  map[string]userLookup
	roles  map[string]roleLookup
	agents map[string]error // nil: still joined, or unknown (store error)

	leaves     map[string]bool // nil until read
	leavesRead bool
	apps       map[string]*resource.App // by name, each read once (nil: not stored)
}

type userLookup struct {
	u   auth.User
	err error
}

type roleLookup struct {
	r   *resource.Role // nil: no such role (grants nothing)
	err error
}

// drop is the recheck's verdict on o: the reason to cut it, or nil.
func (p *recheckPass) drop(o *openSession) error {
	ul, ok := p.users[o.user]
	if !ok {
		ul.u, ul.err = p.set.auth.GetUser(p.ctx, o.user)
		p.users[o.user] = ul
	}
	if errors.Is(ul.err, auth.ErrUnknownUser) {
		return fmt.Errorf("user %q was removed", o.user)
	}
	if ul.err != nil {
		return nil // the store is unwell: keep the session, look again later
	}
	if !(auth.Identity{User: o.user, Generation: o.generation}).IssuedFor(ul.u) {
		return fmt.Errorf("%w: user %q was removed and created again", auth.ErrRevoked, o.user)
	}
	if o.app == nil {
		return nil // a watch: what it shows follows the user's roles
	}
	if o.leaf != "" {
		return p.leafGone(o.leaf)
	}
	if o.agent != "" {
		if err := p.agentGone(o.agent); err != nil {
			return err
		}
	}
	return p.denied(ul.u, o.app)
}

func (p *recheckPass) agentGone(agent string) error {
	err, ok := p.agents[agent]
	if !ok {
		_, gerr := p.set.auth.GetAgent(p.ctx, agent)
		if errors.Is(gerr, auth.ErrNoSuchResource) {
			err = fmt.Errorf("agent %s was removed from the cluster", agent)
		}
		p.agents[agent] = err
	}
	return err
}

func (p *recheckPass) leafGone(leaf string) error {
	if !p.leavesRead {
		p.leavesRead = true
		leaves, err := p.set.auth.ListLeaves(p.ctx)
		if err != nil {
			return nil // unknown: keep
		}
		p.leaves = map[string]bool{}
		for _, l := range leaves {
			p.leaves[l.Name] = true
		}
	}
	if p.leaves != nil && !p.leaves[leaf] {
		return fmt.Errorf("the trust of leaf cluster %s was removed", leaf)
	}
	return nil
}

// denied says why u may no longer reach app, by the user's stored roles
// and the roles' and the app's stored labels now (the app as dialled if
// it is not stored any more: an agent's app between two registrations).
func (p *recheckPass) denied(u auth.User, app *resource.App) error {
	// Each app of an open stream read once per pass, not every app parsed
	// (at 100,000 apps that cost every app write 16 s: issue 13).
	cur, read := p.apps[app.Name()]
	if !read {
		cur, _ = p.set.state.App(p.ctx, app.Name()) // nil: gone, or unknown
		p.apps[app.Name()] = cur
	}
	labels := app.Metadata.Labels
	if cur != nil {
		labels = cur.Metadata.Labels
	}
	var roles []*resource.Role
	for _, name := range u.Roles {
		if name == resource.RoleAdmin {
			continue
		}
		rl, ok := p.roles[name]
		if !ok {
			r, err := p.set.state.Get(p.ctx, resource.KindRole, name)
			switch {
			case errors.Is(err, state.ErrNotFound):
			case err != nil:
				rl.err = err
			default:
				rl.r, _ = r.(*resource.Role)
			}
			p.roles[name] = rl
		}
		if rl.err != nil {
			return nil // unknown: keep
		}
		if rl.r != nil {
			roles = append(roles, rl.r)
		}
	}
	if resource.AllowsApp(roles, labels) {
		return nil
	}
	return fmt.Errorf("%w: user %q may no longer reach app %q (roles: %s)", auth.ErrAccessDenied, u.Name, app.Name(), roleList(u.Roles))
}
