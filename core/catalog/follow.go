package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Back-off between attempts to re-open a broken watch stream.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
)

// Catalog combines the sources of every logged-in cluster into one
// checked snapshot (NewSnapshot), kept live by their watch streams.
type Catalog struct {
	log *slog.Logger // never nil

	current atomic.Pointer[Snapshot] // never nil
	changed chan struct{}            // capacity 1: "the snapshot changed since you last looked"

	mu sync.Mutex
	// logins in login order, which decides who owns a name first. Each
	// is followed by its own goroutine holding its *login, not an index,
	// so that logins can later be added and removed by ID. Fixed after
	// New today; guarded by mu.
	logins   []*login
	nSettled int           // logins that have answered or failed once; guarded by mu
	settled  chan struct{} // closed when nSettled == len(logins)
}

// login is one followed login and what it last offered. Every field but
// the embedded Login is guarded by Catalog.mu.
type login struct {
	Login
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
	Updated   time.Time `json:"updated,omitzero"`
	Error     string    `json:"error,omitempty"`
}

// New returns a catalog over logins, given in login order (the first
// login owns a contested name); Run follows them.
func New(logins []Login, log *slog.Logger) (*Catalog, error) {
	if len(logins) == 0 {
		return nil, errors.New("catalog: no cluster to serve")
	}
	seen := map[string]bool{}
	for _, l := range logins {
		if l.ID == "" || l.Source == nil || seen[l.ID] {
			return nil, fmt.Errorf("catalog: login %q is empty or given twice", l.ID)
		}
		seen[l.ID] = true
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Catalog{
		log:     log,
		changed: make(chan struct{}, 1),
		settled: make(chan struct{}),
	}
	for _, l := range logins {
		c.logins = append(c.logins, &login{Login: l})
	}
	c.current.Store(&Snapshot{})
	return c, nil
}

// Current is the latest snapshot; never nil.
func (c *Catalog) Current() *Snapshot { return c.current.Load() }

// Changed receives a value after the snapshot changes. Several changes
// between two reads coalesce into one.
func (c *Catalog) Changed() <-chan struct{} { return c.changed }

// Run follows every source until ctx is done. A broken stream is re-opened
// with back-off; meanwhile the cluster's last offer stays in the snapshot.
func (c *Catalog) Run(ctx context.Context) {
	var wg sync.WaitGroup
	c.mu.Lock()
	logins := slices.Clone(c.logins)
	c.mu.Unlock()
	for _, l := range logins {
		wg.Go(func() { c.follow(ctx, l) })
	}
	wg.Wait()
}

func (c *Catalog) follow(ctx context.Context, l *login) {
	backoff := minBackoff
	for {
		err := l.Source.Watch(ctx, func(cl []Cluster) {
			backoff = minBackoff
			c.update(l, cl)
		})
		if ctx.Err() != nil {
			return
		}
		c.fail(l, err)
		// Full jitter, so that many clients do not return at once.
		wait := time.Duration(rand.Int64N(int64(backoff))) + minBackoff/2
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (c *Catalog) update(l *login, cl []Cluster) {
	if len(cl) == 0 {
		return
	}
	cl = Identify(l.ID, cl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !l.connected {
		c.log.Info("cluster connected", "cluster", cl[0].Name, "proxy", l.ID, "leaves", len(cl)-1)
	}
	l.clusters, l.connected, l.lastErr, l.updated = cl, true, nil, time.Now()
	// Publish first: Ready reads the snapshot as soon as the last login
	// settles.
	c.publish()
	c.settle(l)
}

func (c *Catalog) fail(l *login, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.connected || !l.settled {
		c.log.Warn("cluster unavailable", "cluster", l.name(), "proxy", l.ID, "err", err)
	}
	l.connected, l.lastErr = false, err
	c.settle(l)
}

// name is the name the login's cluster reports. Called with mu held.
func (s *login) name() string {
	if len(s.clusters) > 0 {
		return s.clusters[0].Name
	}
	return "(not reached yet)"
}

// settle counts a login's first answer or failure. Called with mu held.
func (c *Catalog) settle(st *login) {
	if st.settled {
		return
	}
	st.settled = true
	c.nSettled++
	if c.nSettled == len(c.logins) {
		close(c.settled)
	}
}

// publish builds a new snapshot in login order. Called with mu held.
func (c *Catalog) publish() {
	var all []Cluster
	for _, l := range c.logins {
		all = append(all, l.clusters...)
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
		for _, l := range c.logins {
			errs = append(errs, l.lastErr)
		}
		return nil, fmt.Errorf("no cluster answered: %w", errors.Join(errs...))
	}
	return snap, nil
}

// Status reports each login, in login order.
func (c *Catalog) Status() []ClusterStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ClusterStatus, len(c.logins))
	for i, st := range c.logins {
		out[i] = ClusterStatus{ID: st.ID, Name: st.name(), Connected: st.connected, Updated: st.updated}
		for _, l := range st.clusters[min(1, len(st.clusters)):] {
			out[i].Leaves = append(out[i].Leaves, l.Name)
		}
		if st.lastErr != nil {
			out[i].Error = st.lastErr.Error()
		}
	}
	return out
}
