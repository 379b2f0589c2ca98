package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vnetproject/vnet/core/backoff"
)

// watchBackoff spaces attempts to re-open a broken watch stream.
var watchBackoff = backoff.Policy{Min: 250 * time.Millisecond, Max: 10 * time.Second}

// Catalog combines the sources of every logged-in cluster into one
// checked snapshot (NewSnapshot), kept live by their watch streams. Logins
// come and go while it runs (SetLogins): a login, a re-login with a new
// certificate, a logout.
type Catalog struct {
	log *slog.Logger // never nil

	current atomic.Pointer[Snapshot] // never nil
	changed chan struct{}            // capacity 1: "the snapshot changed since you last looked"
	settled chan struct{}            // closed when every login given to New has answered or failed once

	mu        sync.Mutex
	followers []*follower     // guarded by mu; in login order, which decides who owns a name first
	runCtx    context.Context // guarded by mu; Run's while it runs, else nil
	wg        sync.WaitGroup  // one per running follower
	unsettled int             // guarded by mu; followers from New that have not settled
}

// follower follows one login. Its fields are guarded by Catalog.mu.
type follower struct {
	Login
	cancel  context.CancelFunc // nil until started; ends the follow
	initial bool               // given to New: Ready waits for it
	st      sourceState
}

type sourceState struct {
	clusters  []Cluster // last offer, root first, identified; kept while the stream is down so apps stay reachable
	connected bool
	lastErr   error
	updated   time.Time
	settled   bool
}

// ClusterStatus is how one login is doing, for `vnet status`.
type ClusterStatus struct {
	ID        string    `json:"id"`   // the profile's proxy address
	Name      string    `json:"name"` // the name its cluster reports
	Leaves    []string  `json:"leaves,omitempty"`
	Connected bool      `json:"connected"`
	Apps      int       `json:"apps"` // in the last offer of the root cluster (not its leaves)
	Updated   time.Time `json:"updated,omitzero"`
	Error     string    `json:"error,omitempty"`

	// Revision is the root cluster's catalog revision in that offer (0:
	// none yet, or a proxy that sends none).
	Revision int64 `json:"revision,omitempty"`
	// Degraded is set while the cluster says its store cannot answer
	// (the apps are what its proxy knew), one line.
	Degraded string `json:"degraded,omitempty"`
}

// New returns a catalog over logins, given in login order (the first
// login owns a contested name); Run follows them.
func New(logins []Login, log *slog.Logger) (*Catalog, error) {
	if len(logins) == 0 {
		return nil, errors.New("catalog: no cluster to serve")
	}
	if err := checkLogins(logins); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Catalog{
		log:       log,
		changed:   make(chan struct{}, 1),
		settled:   make(chan struct{}),
		unsettled: len(logins),
	}
	for _, l := range logins {
		c.followers = append(c.followers, &follower{Login: l, initial: true})
	}
	c.current.Store(&Snapshot{})
	return c, nil
}

func checkLogins(logins []Login) error {
	seen := map[string]bool{}
	for _, l := range logins {
		if l.ID == "" || l.Source == nil || seen[l.ID] {
			return fmt.Errorf("catalog: login %q is empty or given twice", l.ID)
		}
		seen[l.ID] = true
	}
	return nil
}

// Current is the latest snapshot; never nil.
func (c *Catalog) Current() *Snapshot { return c.current.Load() }

// Changed receives a value after the snapshot changes. Several changes
// between two reads coalesce into one.
func (c *Catalog) Changed() <-chan struct{} { return c.changed }

// Run follows every login until ctx is done. A broken stream is re-opened
// with back-off; meanwhile the cluster's last offer stays in the snapshot.
func (c *Catalog) Run(ctx context.Context) {
	c.mu.Lock()
	c.runCtx = ctx
	for _, f := range c.followers {
		c.start(f)
	}
	c.mu.Unlock()
	<-ctx.Done()
	// No follower starts after this (start checks runCtx under mu), so
	// Wait does not race with Add.
	c.mu.Lock()
	c.runCtx = nil
	c.mu.Unlock()
	c.wg.Wait()
}

// SetLogins makes the catalog follow logins, in login order, from now on:
// a new ID is followed, a missing one is dropped with its apps at once,
// and an ID whose Source changed (a re-login) is followed through the new
// Source while its last offer stays in the snapshot until that answers.
func (c *Catalog) SetLogins(logins []Login) error {
	if err := checkLogins(logins); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := map[string]*follower{}
	for _, f := range c.followers {
		old[f.ID] = f
	}
	var next []*follower
	for _, l := range logins {
		f, ok := old[l.ID]
		delete(old, l.ID)
		switch {
		case ok && f.Source == l.Source:
		case ok:
			c.log.Info("cluster login renewed", "proxy", l.ID)
			c.stop(f)
			f = &follower{Login: l, st: f.st}
			f.st.settled = true
			c.start(f)
		default:
			c.log.Info("cluster logged in", "proxy", l.ID)
			f = &follower{Login: l, st: sourceState{settled: true}}
			c.start(f)
		}
		next = append(next, f)
	}
	for _, f := range old {
		c.log.Info("cluster logged out", "proxy", f.ID, "cluster", f.st.name())
		c.stop(f)
	}
	c.followers = next
	c.publish()
	return nil
}

// start follows f if Run has begun. Called with mu held.
func (c *Catalog) start(f *follower) {
	if c.runCtx == nil || c.runCtx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(c.runCtx)
	f.cancel = cancel
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.follow(ctx, f)
	}()
}

// stop ends f's follow; a login Ready waits for counts as settled. Called
// with mu held.
func (c *Catalog) stop(f *follower) {
	if f.cancel != nil {
		f.cancel()
	}
	c.settle(f)
}

func (c *Catalog) follow(ctx context.Context, f *follower) {
	// Jittered, so that many clients do not return at once.
	watchBackoff.Loop(ctx, func(ctx context.Context) (bool, error) {
		offered := false
		err := f.Source.Watch(ctx, func(cl []Cluster) {
			offered = true
			c.update(ctx, f, cl)
		})
		return offered, err
	}, func(_ time.Duration, err error) { c.fail(ctx, f, err) }, nil)
}

// update takes f's new offer, unless f was stopped meanwhile.
func (c *Catalog) update(ctx context.Context, f *follower, cl []Cluster) {
	if len(cl) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	st := &f.st
	cl = Identify(f.ID, cl)
	if !st.connected {
		c.log.Info(fmt.Sprintf("catalog loaded: %d apps", len(cl[0].Apps)), "cluster", cl[0].Name, "proxy", cl[0].ID, "leaves", len(cl)-1)
	}
	st.clusters, st.connected, st.lastErr, st.updated = cl, true, nil, time.Now()
	// Publish first: Ready reads the snapshot as soon as the last source
	// settles.
	c.publish()
	c.settle(f)
}

func (c *Catalog) fail(ctx context.Context, f *follower, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	st := &f.st
	if st.connected || !st.settled || st.lastErr == nil || st.lastErr.Error() != err.Error() {
		c.log.Warn("cluster unavailable", "cluster", st.name(), "proxy", f.ID, "err", err)
	}
	st.connected, st.lastErr = false, err
	c.settle(f)
}

func (s *sourceState) name() string {
	if len(s.clusters) > 0 {
		return s.clusters[0].Name
	}
	return "(not reached yet)"
}

// settle counts a login's first answer or failure. Called with mu held.
func (c *Catalog) settle(f *follower) {
	if f.st.settled {
		return
	}
	f.st.settled = true
	if f.initial {
		c.unsettled--
		if c.unsettled == 0 {
			close(c.settled)
		}
	}
}

// publish builds a new snapshot in login order. Called with mu held.
func (c *Catalog) publish() {
	var all []Cluster
	for _, f := range c.followers {
		all = append(all, f.st.clusters...)
	}
	c.current.Store(NewSnapshot(all))
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// Ready waits until every source has answered or failed once, and returns
// the snapshot; it is an error when no cluster answered.
func (c *Catalog) Ready(ctx context.Context) (*Snapshot, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.settled:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.Current()
	if len(snap.Clusters) == 0 {
		var errs []error
		for _, f := range c.followers {
			errs = append(errs, f.st.lastErr)
		}
		return nil, fmt.Errorf("no cluster answered: %w", errors.Join(errs...))
	}
	return snap, nil
}

// Status reports each login, in login order.
func (c *Catalog) Status() []ClusterStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ClusterStatus, len(c.followers))
	for i, f := range c.followers {
		st := f.st
		out[i] = ClusterStatus{ID: f.ID, Name: st.name(), Connected: st.connected, Updated: st.updated}
		if len(st.clusters) > 0 {
			out[i].Apps = len(st.clusters[0].Apps)
			out[i].Revision = st.clusters[0].Revision
			out[i].Degraded = st.clusters[0].StoreUnavailable
		}
		for _, l := range st.clusters[min(1, len(st.clusters)):] {
			out[i].Leaves = append(out[i].Leaves, l.Name)
		}
		if st.lastErr != nil {
			out[i].Error = st.lastErr.Error()
		}
	}
	return out
}
