package vnet

import (
	"context"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/ipam"
	"github.com/vnetproject/vnet/core/relay"
	"github.com/vnetproject/vnet/core/stack"
)

// handleTCP dials the app behind the destination address through its
// cluster before the client's handshake completes: if the app cannot be
// reached the client is refused at once instead of seeing a connection
// that dies.
func (e *Engine) handleTCP(ctx context.Context, req *stack.TCPRequest) {
	dst := req.Dst.Addr().Unmap()
	if dst.Is6() {
		v4, ok := ipam.MapToIPv4(e.cfg.ULA, dst)
		if !ok {
			return
		}
		dst = v4
	}
	ref, release, ok := e.addrs.acquire(dst)
	if !ok {
		e.log.Debug("tcp to an address no app holds", "dst", req.Dst)
		return
	}
	defer release()
	log := e.log.With("app", ref.App, "cluster", ref.Cluster, "id", ref.ClusterID, "port", req.Dst.Port(), "client", req.Src)
	if app, ok := e.cfg.Catalog.Current().App(ref.ClusterID, ref.App); ok && !app.AllowsPort(req.Dst.Port()) {
		// Refused here, without a round trip: the proxy would refuse too.
		log.Info("refused: the app does not listen on this port")
		return
	}
	dctx, cancel := context.WithTimeout(ctx, e.cfg.DialTimeout)
	start := time.Now()
	upstream, err := e.cfg.Dialer.DialApp(dctx, AppTarget{
		ClusterID: ref.ClusterID, Cluster: ref.Cluster, Via: ref.Via, App: ref.App, Port: req.Dst.Port(), ClientAddr: req.Src.String(),
	})
	cancel()
	e.metrics.Dial(ref.Via, err, time.Since(start))
	if err != nil {
		log.Info("refused", "err", err)
		e.failures.put(ref, api.ErrorLine(err))
		return
	}
	client, err := req.Accept()
	if err != nil {
		upstream.Close()
		log.Info("handshake failed", "err", err)
		return
	}
	closed := e.metrics.ConnOpened()
	res, err := relay.Splice(ctx, client, upstream)
	closed(res.AToB, res.BToA)
	log.Debug("connection done", "sent", res.AToB, "received", res.BToA, "err", err)
}
