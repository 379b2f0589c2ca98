package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
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
	logins []Login      // never empty; in login order, which decides who owns a name first
	log    *slog.Logger // never nil

	current atomic.Pointer[Snapshot] // never nil
	changed chan struct{}            // capacity 1: "the snapshot changed since you last looked"

	mu       sync.Mutex
	state    []sourceState // by source index; guarded by mu
	nSettled int           // sources that have answered or failed once; guarded by mu
	settled  chan struct{} // closed when nSettled == len(sources)
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
		logins:  logins,
		log:     log,
		changed: make(chan struct{}, 1),
		state:   make([]sourceState, len(logins)),
		settled: make(chan struct{}),
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
	for i := range c.logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.follow(ctx, i)
		}()
	}
	wg.Wait()
}

func (c *Catalog) follow(ctx context.Context, i int) {
	backoff := minBackoff
	for {
		err := c.logins[i].Source.Watch(ctx, func(cl []Cluster) {
			backoff = minBackoff
			c.update(i, cl)
		})
		if ctx.Err() != nil {
			return
		}
		c.fail(i, err)
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

func (c *Catalog) update(i int, cl []Cluster) {
	if len(cl) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.state[i]
	cl = Identify(c.logins[i].ID, cl)
	if !st.connected {
		c.log.Info("cluster connected", "cluster", cl[0].Name, "proxy", cl[0].ID, "leaves", len(cl)-1)
	}
	st.clusters, st.connected, st.lastErr, st.updated = cl, true, nil, time.Now()
	// Publish first: Ready reads the snapshot as soon as the last source
	// settles.
	c.publish()
	c.settle(st)
}

func (c *Catalog) fail(i int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.state[i]
	if st.connected || !st.settled {
		c.log.Warn("cluster unavailable", "cluster", st.name(), "proxy", c.logins[i].ID, "err", err)
	}
	st.connected, st.lastErr = false, err
	c.settle(st)
}

func (s *sourceState) name() string {
	if len(s.clusters) > 0 {
		return s.clusters[0].Name
	}
	return "(not reached yet)"
}

// settle counts a source's first answer or failure. Called with mu held.
func (c *Catalog) settle(st *sourceState) {
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
	for _, st := range c.state {
		all = append(all, st.clusters...)
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
		for _, st := range c.state {
			errs = append(errs, st.lastErr)
		}
		return nil, fmt.Errorf("no cluster answered: %w", errors.Join(errs...))
	}
	return snap, nil
}

// Status reports each login, in login order.
func (c *Catalog) Status() []ClusterStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]ClusterStatus, len(c.state))
	for i, st := range c.state {
		out[i] = ClusterStatus{ID: c.logins[i].ID, Name: st.name(), Connected: st.connected, Updated: st.updated}
		for _, l := range st.clusters[min(1, len(st.clusters)):] {
			out[i].Leaves = append(out[i].Leaves, l.Name)
		}
		if st.lastErr != nil {
			out[i].Error = st.lastErr.Error()
		}
	}
	return out
}
