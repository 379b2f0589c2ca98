package proxy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Proxies of one cluster forward dials to each other: a user's dial
// arrives at proxy A, the app's agent holds its tunnel to proxy B, so A
// opens Peer.Dial on B and relays. A has already authorized the user and
// writes the audit events; B checks only that the caller holds a proxy
// certificate of the cluster's CA, and uses only agents connected to
// itself, so a dial crosses at most one hop.

// The certificate a proxy presents to its peers is issued by the proxy
// itself (it holds the CA) and kept in memory only. It lives as long as
// the other machine certificates (auth.Service.MachineCertTTL, a day at
// most) and is renewed at two thirds of its life, when the pool next
// dials: new connections carry the new certificate, and the connections
// made with the old one are closed when it ends (calls on them would be
// refused from then on).

// peerPool keeps one connection per peer proxy.
type peerPool struct {
	ca      *auth.CA
	cluster string
	self    string
	ttl     time.Duration
	now     func() time.Time

	mu      sync.Mutex
	id      *mtls.Identity              // this proxy's peer identity (ProxyAddr unset); guarded by mu
	renewAt time.Time                   // when id is renewed; guarded by mu
	conns   map[string]*grpc.ClientConn // by peer address, made with id; guarded by mu
	retired []*grpc.ClientConn          // made with an earlier id, closed when it ends; guarded by mu
	timers  []*time.Timer               // that close retired connections; guarded by mu
}

func newPeerPool(ca *auth.CA, cluster, self string, ttl time.Duration) (*peerPool, error) {
	p := &peerPool{ca: ca, cluster: cluster, self: self, ttl: ttl, now: time.Now, conns: map[string]*grpc.ClientConn{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.issue(); err != nil {
		return nil, err
	}
	return p, nil
}

// issue makes a new peer identity. mu is held.
func (p *peerPool) issue() error {
	key, err := mtls.NewKey()
	if err != nil {
		return err
	}
	now := p.now()
	cert, err := p.ca.IssueProxy(key.Public, p.self, p.ttl)
	if err != nil {
		return fmt.Errorf("issue the proxy's peer certificate: %w", err)
	}
	p.id = &mtls.Identity{ClusterName: p.cluster, User: auth.ProxyUserPrefix + p.self, CertPEM: cert, KeyPEM: key.PEM, CAPEM: p.ca.CertPEM}
	p.renewAt = now.Add(p.ttl * 2 / 3)
	return nil
}

// renewIfDue renews the peer identity at two thirds of its life. The
// connections made with the old one serve the calls under way until it
// ends, then close. mu is held.
func (p *peerPool) renewIfDue() error {
	if p.now().Before(p.renewAt) {
		return nil
	}
	oldEnd, err := p.id.Expires()
	if err != nil {
		return err
	}
	if err := p.issue(); err != nil {
		return err
	}
	var old []*grpc.ClientConn
	for addr, c := range p.conns {
		old = append(old, c)
		delete(p.conns, addr)
	}
	p.retired = append(p.retired, old...)
	p.timers = append(p.timers, time.AfterFunc(time.Until(oldEnd), func() {
		for _, c := range old {
			c.Close()
		}
	}))
	return nil
}

// dial reaches port of app through the peer proxy at addr.
func (p *peerPool) dial(ctx context.Context, addr, app string, port uint16, clientAddr string) (*tunnel.Conn, error) {
	conn, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return tunnel.NewPeerClient(conn, p.cluster).Dial(ctx, app, port, clientAddr)
}

func (p *peerPool) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.renewIfDue(); err != nil {
		return nil, err
	}
	if c := p.conns[addr]; c != nil {
		return c, nil
	}
	id := *p.id
	id.ProxyAddr = addr
	c, err := id.Dial()
	if err != nil {
		return nil, fmt.Errorf("peer proxy %s: %w", addr, err)
	}
	p.conns[addr] = c
	return c, nil
}

// identity is the peer identity new connections present.
func (p *peerPool) identity() *mtls.Identity {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.id
}

func (p *peerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		c.Close()
		delete(p.conns, addr)
	}
	for _, t := range p.timers {
		t.Stop()
	}
	for _, c := range p.retired {
		c.Close()
	}
	p.timers, p.retired = nil, nil
}

// servePeer serves Peer.Dial, a dial another proxy forwards: through an
// agent connected here, relayed until both sides are done.
func (a *agents) servePeer(st api.Peer_DialServer) error {
	ctx := st.Context()
	from, err := machineFrom(ctx, auth.RoleProxy) // policy.go
	if err != nil {
		return err
	}
	req, err := tunnel.Accept(st)
	if err != nil {
		return err
	}
	appConn, agent, err := a.dialLocal(ctx, req.GetApp(), uint16(req.GetPort()), req.GetClientAddr())
	if err != nil {
		return tunnel.Reject(st, api.DialFailure_DIAL_FAILURE_REFUSED, err)
	}
	conn, err := tunnel.Established(st, "proxy "+from)
	if err != nil {
		appConn.Close()
		return err
	}
	a.log.Debug("forwarded dial", "from", from, "app", clip(req.GetApp()), "agent", agent)
	finished := make(chan struct{})
	a.life.spawn(func() {
		defer close(finished)
		relay.Splice(a.life.ctx, conn, appConn)
	})
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}

// dialLocal reaches port of app through one of the agents connected
// to this proxy that serve it, in random order, trying the next when one
// fails. It returns the agent that answered.
func (a *agents) dialLocal(ctx context.Context, app string, port uint16, clientAddr string) (*tunnel.Conn, string, error) {
	links := a.hub.serving(app)
	rand.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	var errs []string
	for _, l := range links {
		conn, err := a.dialAgent(ctx, l, app, port, clientAddr)
		if err == nil {
			return conn, l.id, nil
		}
		errs = append(errs, fmt.Sprintf("agent %s: %v", l.id, err))
	}
	if len(errs) == 0 {
		return nil, "", fmt.Errorf("no agent serving app %q is connected to this proxy", app)
	}
	return nil, "", errors.New(strings.Join(errs, "; "))
}

// dialAgent is one reverse dial, bounded by the dial timeout.
func (a *agents) dialAgent(ctx context.Context, l *agentLink, app string, port uint16, clientAddr string) (*tunnel.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, a.dialTimeout)
	defer cancel()
	return a.hub.dial(dctx, l, app, port, clientAddr)
}

// portOf is the port of a host:port target.
func portOf(hostport string) uint16 {
	i := strings.LastIndexByte(hostport, ':')
	p, _ := strconv.ParseUint(hostport[i+1:], 10, 16)
	return uint16(p)
}
