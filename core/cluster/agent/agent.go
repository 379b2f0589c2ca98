// Package agent is the App Service as a separate process: it joins a
// cluster with a join token, keeps one outbound connection to a proxy (a
// reverse tunnel), registers its apps with a heartbeat, and dials an app
// when the proxy asks, relaying the connection over the same tunnel.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/backoff"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/tunnel"
	"github.com/vnetproject/vnet/core/version"
)

// Reconnection back-off is package backoff's.
const (
	// welcomeTimeout bounds the wait for the proxy's answer to a
	// registration.
	welcomeTimeout = 30 * time.Second
	// maxConns bounds the app connections an agent relays at once.
	maxConns = 4096
)

// Config is what an agent needs.
type Config struct {
	Identity *mtls.Identity // the agent's certificate and the proxy to dial; never nil
	// IdentityDir is where Identity was loaded from (File.IdentityDir):
	// a renewed certificate and its key replace it there. "": renewals
	// are kept in memory only (the next start needs a new token once the
	// saved certificate has ended).
	IdentityDir string
	Apps        []*resource.App // validated
	// DialTimeout bounds a dial of an app; default 5s.
	DialTimeout time.Duration
	// DialApp reaches an app's target. Default: a TCP dial with
	// DialTimeout. Tests give two agents of one app (same uri) targets
	// of their own.
	DialApp func(ctx context.Context, network, addr string) (net.Conn, error)
	Logger  *slog.Logger
}

// Agent is a running App Service agent.
type Agent struct {
	idDir   string
	log     *slog.Logger
	timeout time.Duration
	dial    func(ctx context.Context, network, addr string) (net.Conn, error) // never nil

	mu      sync.Mutex
	id      *mtls.Identity  // the current identity; guarded by mu
	renewAt time.Time       // when id is renewed; guarded by mu
	apps    []*resource.App // guarded by mu
	reload  chan struct{}   // a SetApps happened; buffered 1

	conns chan struct{} // one token per app connection relaying; bounds them
	wg    sync.WaitGroup
}

// New returns an agent ready to Run.
func New(cfg Config) (*Agent, error) {
	if cfg.Identity == nil {
		return nil, errors.New("agent: identity is required")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DialApp == nil {
		d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
		cfg.DialApp = d.DialContext
	}
	return &Agent{
		id: cfg.Identity, idDir: cfg.IdentityDir, renewAt: mtls.RenewAt(cfg.Identity, time.Now()), log: cfg.Logger, timeout: cfg.DialTimeout, dial: cfg.DialApp,
		apps:   cfg.Apps,
		reload: make(chan struct{}, 1),
		conns:  make(chan struct{}, maxConns),
	}, nil
}

// SetApps replaces the apps the agent serves (after a SIGHUP); the proxy
// hears of it at once.
func (a *Agent) SetApps(apps []*resource.App) {
	a.mu.Lock()
	a.apps = apps
	a.mu.Unlock()
	select {
	case a.reload <- struct{}{}:
	default:
	}
}

func (a *Agent) currentApps() []*resource.App {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.apps
}

func (a *Agent) app(name string) *resource.App {
	for _, app := range a.currentApps() {
		if app.Name() == name {
			return app
		}
	}
	return nil
}

// Run keeps the agent connected until ctx is done, reconnecting with
// back-off. On return every app connection has ended.
func (a *Agent) Run(ctx context.Context) error {
	defer a.wg.Wait()
	return backoff.Loop(ctx, a.session, func(wait time.Duration, err error) {
		if errors.Is(err, errRenewed) {
			a.log.Info("certificate renewed: reconnecting with it", "proxy", a.identity().ProxyAddr)
			return
		}
		a.log.Warn("agent disconnected from the proxy; reconnecting", "proxy", a.identity().ProxyAddr, "in", wait.Round(time.Millisecond), "err", err)
	}, func(err error) bool { return errors.Is(err, ErrIdentityExpired) })
}

// session is one connection to the proxy, from registration until it
// breaks or ctx is done. registered reports whether the proxy welcomed
// the agent.
func (a *Agent) session(ctx context.Context) (registered bool, err error) {
	id := a.identity()
	if err := checkIdentity(id, a.idDir, time.Now()); err != nil {
		return false, err
	}
	conn, err := id.Dial()
	if err != nil {
		return false, err
	}
	// The app connections relayed on conn outlive the session when it
	// ends for a renewal (conn closes once they have ended); any other
	// end ends them.
	var relays sync.WaitGroup
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		if !errors.Is(err, errRenewed) {
			rcancel()
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			relays.Wait()
			rcancel()
			conn.Close()
		}()
	}()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := api.NewAgentClient(conn).Control(sctx)
	if err != nil {
		return false, err
	}
	if err := st.Send(a.registration()); err != nil {
		return false, err
	}
	w, recvErr, err := tunnel.ReadControl(ctx, st, func(m *api.ProxyMessage) {
		switch {
		case m.GetWelcome() != nil: // only the first matters for the loop; log the rest
			a.logWelcome(m.GetWelcome())
		case m.GetDial() != nil:
			a.serve(rctx, conn, &relays, m.GetDial())
		}
	}, welcomeTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, fmt.Errorf("registration: %w", err)
	}
	a.logWelcome(w)
	beat := tunnel.HeartbeatOf(w)
	tick := time.NewTicker(beat)
	defer tick.Stop()
	renew := time.NewTimer(time.Until(a.renewTime()))
	defer renew.Stop()
	for {
		select {
		case <-renew.C:
			err = a.renew(ctx, api.NewAgentClient(conn))
			if err == nil {
				// New calls need a connection made with the new
				// certificate: end this session (not its relays).
				return true, errRenewed
			}
			if status.Code(err) == codes.PermissionDenied {
				return true, err
			}
			retry := a.retryRenewal(time.Now())
			a.log.Warn("certificate renewal failed; trying again", "in", time.Until(retry).Round(time.Second), "err", err)
			renew.Reset(time.Until(retry))
			err = nil
		case <-tick.C:
			err = st.Send(&api.AgentMessage{Heartbeat: true})
		case <-a.reload:
			a.log.Info("apps changed: registering again", "apps", len(a.currentApps()))
			err = st.Send(a.registration())
		case err = <-recvErr:
			return true, err
		case <-ctx.Done():
			// Tell the proxy at once, rather than let it wait for missed
			// heartbeats; best effort.
			_ = st.Send(&api.AgentMessage{Goodbye: true})
			_ = st.CloseSend()
			select {
			case <-recvErr:
			case <-time.After(time.Second):
			}
			return true, nil
		}
		if err != nil {
			return true, err
		}
	}
}

func (a *Agent) logWelcome(w *api.AgentWelcome) {
	a.log.Info("registered with the proxy", "cluster", w.GetClusterName(), "proxy", a.identity().ProxyAddr, "heartbeat", time.Duration(w.GetHeartbeatMillis())*time.Millisecond)
	for _, r := range w.GetRejected() {
		a.log.Error("app refused by the cluster", "reason", r)
	}
}

func (a *Agent) registration() *api.AgentMessage {
	reg := &api.AgentRegister{Version: version.Number}
	for _, app := range a.currentApps() {
		out := &api.App{Name: app.Name(), Uri: app.Spec.URI, PublicAddr: app.Spec.PublicAddr, Labels: app.Metadata.Labels}
		for _, r := range app.Spec.TCPPorts {
			out.TcpPorts = append(out.TcpPorts, &api.PortRange{Port: uint32(r.Port), EndPort: uint32(r.EndPort)})
		}
		reg.Apps = append(reg.Apps, out)
	}
	return &api.AgentMessage{Register: reg}
}

// serve answers one dial request in the background: dial the app's target
// for the port, answer the proxy on a Connect stream, relay.
func (a *Agent) serve(ctx context.Context, conn grpc.ClientConnInterface, relays *sync.WaitGroup, d *api.AgentDial) {
	select {
	case a.conns <- struct{}{}:
	default:
		a.wg.Add(1)
		relays.Add(1)
		go func() {
			defer a.wg.Done()
			defer relays.Done()
			_, _ = tunnel.Answer(ctx, conn, d.GetId(), d.GetApp(), fmt.Errorf("agent is at its limit of %d connections", maxConns))
		}()
		return
	}
	a.wg.Add(1)
	relays.Add(1)
	go func() {
		defer a.wg.Done()
		defer relays.Done()
		defer func() { <-a.conns }()
		appConn, target, err := a.dialApp(ctx, d.GetApp(), uint16(d.GetPort()))
		tc, aerr := tunnel.Answer(ctx, conn, d.GetId(), d.GetApp(), err)
		if err != nil || aerr != nil {
			if appConn != nil {
				appConn.Close()
			}
			a.log.Info("dial refused", "app", d.GetApp(), "target", target, "err", errors.Join(err, aerr))
			return
		}
		a.log.Debug("app connection", "app", d.GetApp(), "target", target, "client", d.GetClientAddr())
		relay.Splice(ctx, tc, appConn)
	}()
}

// dialApp dials the target of app for port, as this agent's own config
// describes the app (the proxy chooses the port, never the host).
func (a *Agent) dialApp(ctx context.Context, name string, port uint16) (net.Conn, string, error) {
	app := a.app(name)
	if app == nil {
		return nil, "", fmt.Errorf("this agent does not serve app %q (any more)", name)
	}
	target, ok := app.Spec.Target(port)
	if !ok {
		return nil, "", fmt.Errorf("app %q does not listen on port %d", name, port)
	}
	dctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	c, err := a.dial(dctx, "tcp", target)
	if err != nil {
		return nil, target, fmt.Errorf("app %q at %s: %w", name, target, err)
	}
	return c, target, nil
}
