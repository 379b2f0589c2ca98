package vnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Clusters holds one gRPC connection per logged-in cluster and serves as
// the engine's Dialer. Clusters are known by their profile's ID (its proxy
// address), never by the name they report: two clusters that report the
// same name never share a tunnel. Logins change while VNet runs (Update,
// Follow): a new login connects, a logout closes its connection (cutting
// its open app connections), and a re-login connects with the new
// certificate while the app connections of the old one run to their end.
type Clusters struct {
	log *slog.Logger // never nil

	mu       sync.Mutex
	order    []*login          // guarded by mu; in login order
	byID     map[string]*login // guarded by mu
	draining map[*login]bool   // guarded by mu; replaced logins whose app connections still run
	closed   bool              // guarded by mu
	metrics  Metrics           // guarded by mu; nil until SetMetrics (metrics.go)
}

// login is one profile's connection to its cluster.
type login struct {
	profile *profile.Profile
	conn    *grpc.ClientConn
	tunnel  *tunnel.Client
	source  catalog.Source
	proxy   []netip.Prefix // the proxy's addresses, resolved when the login was added
	// expires is when profile's certificate expires, read once when the
	// login was added (a new certificate is a new login): zero if it
	// could not be read, so that every dial asks the profile why.
	expires time.Time

	active  int  // open app connections; guarded by Clusters.mu
	retired bool // replaced or logged out; guarded by Clusters.mu: closed when active is 0
}

// Connect opens a connection to the cluster of every profile, given in
// login order (profile.LoadAll). Connections are lazy: a cluster that is
// down now is retried on use.
func Connect(profiles []*profile.Profile) (*Clusters, error) {
	if len(profiles) == 0 {
		return nil, profile.ErrNoProfiles
	}
	c := &Clusters{log: slog.Default(), byID: map[string]*login{}, draining: map[*login]bool{}}
	_, release, err := c.Update(context.Background(), profiles)
	release()
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// SetLogger sets where Clusters logs logins coming and going.
func (c *Clusters) SetLogger(log *slog.Logger) {
	if log != nil {
		c.log = log
	}
}

// Update makes the connections match profiles (in login order): it
// returns the catalog's logins for them, and release, to be called once
// the catalog follows those logins, which closes the connections of
// logins that went (logouts at once; replaced ones when their last app
// connection ends). A profile that cannot be dialled is left out and
// returned in err; the others are updated.
func (c *Clusters) Update(ctx context.Context, profiles []*profile.Profile) (logins []catalog.Login, release func(), err error) {
	// New connections are made outside the lock: resolving a proxy's
	// address may take a while, and dials must not wait for it. Updates
	// come from one goroutine (Follow).
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, func() {}, errors.New("clusters: closed")
	}
	cur := maps.Clone(c.byID)
	c.mu.Unlock()
	var (
		next    []*login
		byID    = map[string]*login{}
		retired []*login
		errs    []error
	)
	for _, p := range profiles {
		id := p.ID()
		if _, dup := byID[id]; dup {
			continue // one profile per proxy address (profile.Dir)
		}
		l, ok := cur[id]
		if !ok || !sameCredentials(l.profile, p) {
			nl, err := c.dial(ctx, p)
			if err != nil {
				errs = append(errs, err)
				if ok {
					// Keep the login that works rather than lose the cluster.
					next, byID[id] = append(next, l), l
				}
				continue
			}
			if ok {
				retired = append(retired, l)
			}
			l = nl
		}
		next, byID[id] = append(next, l), l
	}
	gone := map[*login]bool{}
	for id, l := range cur {
		if byID[id] == nil {
			gone[l] = true
			retired = append(retired, l)
		}
	}
	c.mu.Lock()
	if c.closed { // Close ran meanwhile: what was dialled here goes too
		c.mu.Unlock()
		for _, l := range next {
			if cur[l.profile.ID()] != l {
				l.conn.Close()
			}
		}
		return nil, func() {}, errors.New("clusters: closed")
	}
	c.order, c.byID = next, byID
	c.mu.Unlock()
	logins = loginsOf(next)
	release = func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, l := range retired {
			l.retired = true
			// A logout ends the identity's connections, also those of
			// earlier certificates; a re-login lets those of the old
			// certificate finish.
			switch {
			case gone[l]:
				l.conn.Close()
				for d := range c.draining {
					if d.profile.ID() == l.profile.ID() {
						d.conn.Close()
						delete(c.draining, d)
					}
				}
			case l.active == 0:
				l.conn.Close()
			default:
				c.draining[l] = true
			}
		}
	}
	return logins, release, errors.Join(errs...)
}

// dial opens the connection of one profile.
func (c *Clusters) dial(ctx context.Context, p *profile.Profile) (*login, error) {
	conn, err := p.Dial()
	if err != nil {
		return nil, err
	}
	c.watchReconnects(conn, p.ID())
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	exp, _ := p.Expires() // on an error, zero: checkCert reports it
	return &login{
		profile: p,
		conn:    conn,
		tunnel:  tunnel.NewClient(conn, p.ClusterName),
		source:  certSource{ProxySource: catalog.NewProxySource(conn), profile: p},
		proxy:   proxyPrefixes(rctx, p.ProxyAddr, c.log),
		expires: exp,
	}, nil
}

// checkCert is l.profile.CheckCert(now) without parsing the certificate
// for every dial (that parse was 5% of the CPU of a new connection,
// BenchmarkSystemConnect): the profile is asked only once the expiry
// read when the login was added has passed, or was not read.
func (l *login) checkCert(now time.Time) error {
	if now.Before(l.expires) {
		return nil
	}
	return l.profile.CheckCert(now)
}

func sameCredentials(a, b *profile.Profile) bool {
	return bytes.Equal(a.CertPEM, b.CertPEM) && bytes.Equal(a.KeyPEM, b.KeyPEM) && bytes.Equal(a.CAPEM, b.CAPEM)
}

// Follow keeps the connections and cat in line with the profiles under
// home until ctx is done: a login, a re-login or a logout reaches the
// running VNet within a profile.Watch interval.
func (c *Clusters) Follow(ctx context.Context, home string, cat *catalog.Catalog) {
	profile.Watch(ctx, home, 0, c.log, func(ps []*profile.Profile) {
		logins, release, err := c.Update(ctx, ps)
		if err != nil {
			c.log.Warn("connect a login", "err", err)
		}
		if err := cat.SetLogins(logins); err != nil {
			c.log.Error("follow logins", "err", err)
		}
		release()
	})
}

// Logins are the catalog's logins, one per profile, in login order.
func (c *Clusters) Logins() []catalog.Login {
	c.mu.Lock()
	defer c.mu.Unlock()
	return loginsOf(c.order)
}

// loginsOf is what the catalog follows for ls.
func loginsOf(ls []*login) []catalog.Login {
	out := make([]catalog.Login, 0, len(ls))
	for _, l := range ls {
		out = append(out, catalog.Login{ID: l.profile.ID(), Source: l.source})
	}
	return out
}

// Profiles are the current logins' profiles, in login order.
func (c *Clusters) Profiles() []*profile.Profile {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*profile.Profile, 0, len(c.order))
	for _, l := range c.order {
		out = append(out, l.profile)
	}
	return out
}

// ProxyPrefixes are the addresses of the current logins' proxies, for
// Config.Protected.
func (c *Clusters) ProxyPrefixes() []netip.Prefix {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []netip.Prefix
	for _, l := range c.order {
		out = append(out, l.proxy...)
	}
	return out
}

// DialApp reaches an app through the tunnel of the profile that reaches
// its cluster: t.Via, an ID, picks the tunnel; the cluster's name only
// tells that profile's proxy which leaf to go to. A login whose
// certificate has expired is refused here, at once, saying how to renew
// it.
func (c *Clusters) DialApp(ctx context.Context, t AppTarget) (net.Conn, error) {
	c.mu.Lock()
	l, ok := c.byID[t.Via]
	if ok {
		l.active++
	}
	c.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("not logged in at %q", t.Via)
	}
	var once sync.Once
	done := func() { once.Do(func() { c.ended(l) }) }
	if err := l.checkCert(time.Now()); err != nil {
		done()
		return nil, err
	}
	leaf := ""
	if t.ClusterID != "" && t.ClusterID != t.Via {
		leaf = t.Cluster
	}
	conn, err := l.tunnel.DialIn(ctx, leaf, t.App, t.Port, t.ClientAddr)
	if err != nil {
		done()
		return nil, err
	}
	return &countedConn{Conn: conn, done: done}, nil
}

// ended counts the end of one of l's app connections.
func (c *Clusters) ended(l *login) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.active--
	if l.retired && l.active == 0 {
		l.conn.Close()
		delete(c.draining, l)
	}
}

// countedConn is a tunnel connection that tells its login when it closes.
type countedConn struct {
	*tunnel.Conn // CloseWrite and Done stay visible to the relay
	done         func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.done()
	return err
}

// Close closes every connection.
func (c *Clusters) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, l := range c.order {
		errs = append(errs, l.conn.Close())
	}
	for l := range c.draining {
		l.conn.Close()
	}
	c.order, c.byID, c.draining = nil, map[string]*login{}, map[*login]bool{}
	return errors.Join(errs...)
}

// certSource is a cluster's catalog source that stops when the login's
// certificate expires, with an error that says how to renew it (for
// `vnet status`); the catalog keeps the cluster's last offer, so its names
// still resolve while DialApp refuses their connections.
type certSource struct {
	*catalog.ProxySource
	profile *profile.Profile
}

// Fetch asks the cluster once (diag.Fetcher), unless the certificate has
// expired.
func (s certSource) Fetch(ctx context.Context) (catalog.Cluster, error) {
	if err := s.profile.CheckCert(time.Now()); err != nil {
		return catalog.Cluster{}, err
	}
	return s.ProxySource.Fetch(ctx)
}

func (s certSource) Watch(ctx context.Context, update func([]catalog.Cluster)) error {
	return s.watchWith(ctx, s.ProxySource.Watch, update)
}

// watchWith is Watch over any watch function (tests).
func (s certSource) watchWith(ctx context.Context, watch func(context.Context, func([]catalog.Cluster)) error, update func([]catalog.Cluster)) error {
	if err := s.profile.CheckCert(time.Now()); err != nil {
		return err
	}
	exp, err := s.profile.Expires()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithDeadline(ctx, exp)
	defer cancel()
	werr := watch(wctx, update)
	if ctx.Err() == nil {
		if err := s.profile.CheckCert(time.Now().Add(time.Second)); err != nil {
			return err
		}
	}
	return werr
}
