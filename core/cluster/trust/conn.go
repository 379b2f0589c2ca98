package trust

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/backoff"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/tunnel"
	"github.com/vnetproject/vnet/core/version"
)

const (
	welcomeTimeout = 30 * time.Second
	// maxConns bounds the root users' connections relayed at once.
	maxConns = 4096
)

// conn is the leaf's tunnel to one root.
type conn struct {
	svc   *Service
	tc    *resource.TrustedCluster // as it was when the connection started
	conns chan struct{}            // one token per relayed connection
	wg    sync.WaitGroup
	// renewAt is when the certificate renewCert is renewed (renew.go);
	// only run's goroutine touches them.
	renewAt   time.Time
	renewCert string
}

// run keeps the tunnel up until ctx is done or the root removes the trust
// (then it waits for the trusted_cluster to change: Service restarts it).
func (c *conn) run(ctx context.Context) {
	c.conns = make(chan struct{}, maxConns)
	defer c.wg.Wait()
	log := c.svc.cfg.Logger.With("root", c.tc.Name(), "proxy", c.tc.Spec.WebProxyAddr)
	err := backoff.Loop(ctx, c.session, func(wait time.Duration, err error) {
		if errors.Is(err, errRenewed) {
			log.Info("certificate renewed: reconnecting with it")
			return
		}
		log.Warn("disconnected from the root cluster; reconnecting", "in", wait.Round(time.Millisecond), "err", err)
	}, func(err error) bool { return errors.Is(err, errTrustRemoved) })
	if err != nil {
		log.Error("not connecting to the root cluster", "err", err)
		<-ctx.Done()
	}
}

// session is one connection to the root's proxy.
func (c *conn) session(ctx context.Context) (welcomed bool, err error) {
	prof, err := c.loadOrJoin(ctx)
	if err != nil {
		return false, err
	}
	gc, err := prof.Dial()
	if err != nil {
		return false, err
	}
	// The connections relayed on gc outlive the session when it ends
	// for a renewal (gc closes once they have ended); any other end
	// ends them.
	var relays sync.WaitGroup
	rctx, rcancel := context.WithCancel(ctx)
	defer func() {
		if !errors.Is(err, errRenewed) {
			rcancel()
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			relays.Wait()
			rcancel()
			gc.Close()
		}()
	}()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := api.NewTrustClient(gc).Control(sctx)
	if err != nil {
		return false, c.checkRefused(ctx, err)
	}
	var sendMu sync.Mutex // a stream has one sender at a time
	send := func(m *api.LeafMessage) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return st.Send(m)
	}
	if err := send(&api.LeafMessage{Hello: &api.LeafHello{Version: version.Number, ProxyPublicAddr: c.svc.cfg.PublicAddr}}); err != nil {
		return false, c.checkRefused(ctx, err)
	}
	w, recvErr, err := tunnel.ReadControl(ctx, st, func(m *api.ProxyMessage) {
		switch {
		case m.GetDescribe() != nil:
			c.wg.Add(1)
			go func() {
				defer c.wg.Done()
				if err := send(&api.LeafMessage{Catalog: c.describe(sctx, m.GetDescribe())}); err != nil {
					cancel()
				}
			}()
		case m.GetDial() != nil:
			c.serve(rctx, gc, &relays, m.GetDial())
		}
	}, welcomeTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, c.checkRefused(ctx, err)
	}
	if w.GetClusterName() != c.tc.Name() {
		return false, fmt.Errorf("the root proxy serves cluster %q, not %q", w.GetClusterName(), c.tc.Name())
	}
	beat := tunnel.HeartbeatOf(w)
	c.svc.cfg.Logger.Info("connected to the root cluster", "root", c.tc.Name(), "proxy", c.tc.Spec.WebProxyAddr, "heartbeat", beat)
	tick := time.NewTicker(beat)
	defer tick.Stop()
	renew := time.NewTimer(time.Until(c.renewTime(prof)))
	defer renew.Stop()
	for {
		select {
		case <-renew.C:
			err := c.renew(ctx, api.NewTrustClient(gc), prof)
			if err == nil {
				// New calls need a connection made with the new
				// certificate: end this session (not its relays).
				return true, errRenewed
			}
			if status.Code(err) == codes.PermissionDenied {
				return true, c.checkRefused(ctx, err)
			}
			retry := c.retryRenewal(prof, time.Now())
			c.svc.cfg.Logger.Warn("certificate renewal at the root cluster failed; trying again", "root", c.tc.Name(), "in", time.Until(retry).Round(time.Second), "err", err)
			renew.Reset(time.Until(retry))
		case <-tick.C:
			if err := send(&api.LeafMessage{Heartbeat: true}); err != nil {
				return true, err
			}
		case err := <-recvErr:
			return true, c.checkRefused(ctx, err)
		case <-ctx.Done():
			// Tell the root at once rather than let it wait for missed
			// heartbeats; best effort.
			_ = send(&api.LeafMessage{Goodbye: true})
			_ = st.CloseSend()
			select {
			case <-recvErr:
			case <-time.After(time.Second):
			}
			return true, nil
		}
	}
}

// checkRefused turns the root's refusal of this leaf's certificate into
// errTrustRemoved, dropping the identity.
func (c *conn) checkRefused(ctx context.Context, err error) error {
	if status.Code(err) != codes.PermissionDenied {
		return err
	}
	if rerr := refused(ctx, c.svc.cfg.Store, c.tc.Name()); rerr != nil {
		c.svc.cfg.Logger.Warn("record the root's refusal", "root", c.tc.Name(), "err", rerr)
	}
	return fmt.Errorf("%w: %v", errTrustRemoved, status.Convert(err).Message())
}

// describe answers the root's question: what may this root user reach here?
func (c *conn) describe(ctx context.Context, d *api.LeafDescribe) *api.LeafDescribeResult {
	id := remoteIdentity(c.tc, d.GetUser(), d.GetRoles())
	cat, err := c.svc.cfg.Local.RemoteCatalog(ctx, id)
	if err != nil {
		return &api.LeafDescribeResult{Id: d.GetId(), Error: status.Convert(err).Message()}
	}
	return &api.LeafDescribeResult{Id: d.GetId(), Catalog: cat}
}

// serve handles one of the root's dials in the background.
func (c *conn) serve(ctx context.Context, gc grpc.ClientConnInterface, relays *sync.WaitGroup, d *api.AgentDial) {
	reply := answer{ctx: ctx, conn: gc, id: d.GetId(), app: d.GetApp()}
	c.wg.Add(1)
	relays.Add(1)
	select {
	case c.conns <- struct{}{}:
	default:
		go func() {
			defer c.wg.Done()
			defer relays.Done()
			_ = reply.Reject(api.DialFailure_DIAL_FAILURE_REFUSED, fmt.Errorf("leaf cluster %s is at its limit of %d connections from its root", c.svc.cfg.ClusterName, maxConns))
		}()
		return
	}
	go func() {
		defer c.wg.Done()
		defer relays.Done()
		defer func() { <-c.conns }()
		id := remoteIdentity(c.tc, d.GetUser(), d.GetRoles())
		req := &api.DialRequest{App: d.GetApp(), Port: d.GetPort(), ClientAddr: d.GetClientAddr(), ClientReportedAddr: d.GetClientReportedAddr()}
		if err := c.svc.cfg.Local.ServeRemoteDial(ctx, id, req, reply); err != nil {
			c.svc.cfg.Logger.Info("root dial not answered", "root", c.tc.Name(), "app", d.GetApp(), "err", err)
		}
	}()
}

// answer replies to one of the root's dials with an Agent.Connect stream
// on the leaf's connection, as an agent does.
type answer struct {
	ctx  context.Context
	conn grpc.ClientConnInterface
	id   uint64
	app  string
}

// Reject answers with err. The reason is not passed on: an agent's
// answer is always a refusal, and the root treats the leaf as an agent.
func (a answer) Reject(_ api.DialFailure, err error) error {
	_, aerr := tunnel.Answer(a.ctx, a.conn, a.id, a.app, err)
	return aerr
}

func (a answer) Established() (*tunnel.Conn, error) {
	return tunnel.Answer(a.ctx, a.conn, a.id, a.app, nil)
}
