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
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/tunnel"
)

// Proxies of one cluster forward dials to each other: a user's dial
// arrives at proxy A, the app's agent holds its tunnel to proxy B, so A
// opens Peer.Dial on B and relays. A has already authorized the user and
// writes the audit events; B checks only that the caller holds a proxy
// certificate of the cluster's CA, and uses only agents connected to
// itself, so a dial crosses at most one hop.

// peerCertTTL is the lifetime of the certificate a proxy presents to its
// peers. It is issued at every start and kept in memory only.
const peerCertTTL = 365 * 24 * time.Hour

// peerPool keeps one connection per peer proxy.
type peerPool struct {
	id      *profile.Profile // this proxy's peer identity (ProxyAddr unset)
	cluster string

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by peer address; guarded by mu
}

func newPeerPool(ca *auth.CA, cluster, self string) (*peerPool, error) {
	key, err := profile.NewKey()
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueProxy(key.Public, self, peerCertTTL)
	if err != nil {
		return nil, fmt.Errorf("issue the proxy's peer certificate: %w", err)
	}
	return &peerPool{
		id:      &profile.Profile{ClusterName: cluster, User: auth.ProxyUserPrefix + self, CertPEM: cert, KeyPEM: key.PEM, CAPEM: ca.CertPEM},
		cluster: cluster,
		conns:   map[string]*grpc.ClientConn{},
	}, nil
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

func (p *peerPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, c := range p.conns {
		c.Close()
		delete(p.conns, addr)
	}
}

type peerServer struct {
	api.UnimplementedPeerServer
	s *Server
}

// Dial serves a dial another proxy forwards: through an agent connected
// here, relayed until both sides are done.
func (p *peerServer) Dial(st api.Peer_DialServer) error {
	s := p.s
	ctx := st.Context()
	from, err := machineFrom(ctx, auth.RoleProxy) // policy.go
	if err != nil {
		return err
	}
	req, err := tunnel.Accept(st)
	if err != nil {
		return err
	}
	appConn, agent, err := s.dialLocalAgents(ctx, req.GetApp(), uint16(req.GetPort()), req.GetClientAddr())
	if err != nil {
		return tunnel.Reject(st, "refused", err)
	}
	conn, err := tunnel.Established(st, "proxy "+from)
	if err != nil {
		appConn.Close()
		return err
	}
	s.cfg.Logger.Debug("forwarded dial", "from", from, "app", req.GetApp(), "agent", agent)
	finished := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(finished)
		relay.Splice(s.ctx, conn, appConn)
	}()
	select {
	case <-finished:
	case <-conn.Done():
	}
	return nil
}

// dialLocalAgents reaches port of app through one of the agents connected
// to this proxy that serve it, in random order, trying the next when one
// fails. It returns the agent that answered.
func (s *Server) dialLocalAgents(ctx context.Context, app string, port uint16, clientAddr string) (*tunnel.Conn, string, error) {
	links := s.agents.serving(app)
	rand.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	var errs []string
	for _, l := range links {
		conn, err := s.dialAgent(ctx, l, app, port, clientAddr)
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
func (s *Server) dialAgent(ctx context.Context, l *agentLink, app string, port uint16, clientAddr string) (*tunnel.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
	defer cancel()
	return s.agents.dial(dctx, l, app, port, clientAddr)
}

// portOf is the port of a host:port target.
func portOf(hostport string) uint16 {
	i := strings.LastIndexByte(hostport, ':')
	p, _ := strconv.ParseUint(hostport[i+1:], 10, 16)
	return uint16(p)
}
