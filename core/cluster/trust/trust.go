// Package trust is the leaf's side of leaf clusters: for each enabled
// trusted_cluster resource it joins the root cluster the resource names
// and keeps a reverse tunnel to the root's proxy, over which the root
// asks for the catalog a root user may see here and dials apps for them.
// This cluster's proxy (Local) maps nothing itself: the role map is
// applied here, and the proxy enforces this cluster's roles and writes
// the audit events as for its own users.
package trust

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/proxy"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// Local is this (leaf) cluster's proxy as the tunnel to a root uses it.
type Local interface {
	RemoteCatalog(ctx context.Context, id auth.Identity) (*api.LeafCatalog, error)
	ServeRemoteDial(ctx context.Context, id auth.Identity, req *api.DialRequest, reply proxy.DialReply) error
}

// Config is what the leaf side needs.
type Config struct {
	ClusterName string       // this (leaf) cluster's name; never empty
	PublicAddr  string       // this cluster's proxy public address, told to the root
	State       *state.State // where trusted_cluster resources are; never nil
	Store       store.Store  // where the leaf's identities at its roots are kept; never nil
	Local       Local        // never nil
	Logger      *slog.Logger
	// Poll is how often trusted_cluster resources are read; default 1s.
	Poll time.Duration
}

// Service runs one connection per enabled trusted_cluster.
type Service struct {
	cfg   Config
	conns map[string]*running // by root name; only Run's goroutine touches it
	wg    sync.WaitGroup
}

type running struct {
	spec   string // the resource as stored: a change restarts the connection
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns the service; Run starts it.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.ClusterName == "":
		return nil, errors.New("trust: cluster name is required")
	case cfg.State == nil || cfg.Store == nil || cfg.Local == nil:
		return nil, errors.New("trust: state, store and local proxy are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	return &Service{cfg: cfg, conns: map[string]*running{}}, nil
}

// Run follows the trusted_cluster resources until ctx is done: a new or
// changed one (re)connects, a removed or disabled one disconnects. On
// return every connection has ended.
func (s *Service) Run(ctx context.Context) {
	defer func() {
		for name := range s.conns {
			s.stop(name)
		}
		s.wg.Wait()
	}()
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	for {
		s.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Service) reconcile(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rs, err := s.cfg.State.List(rctx, resource.KindTrustedCluster)
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Logger.Warn("read trusted clusters", "err", err)
		}
		return
	}
	want := map[string]*resource.TrustedCluster{}
	for _, r := range rs {
		if tc, ok := r.(*resource.TrustedCluster); ok {
			want[tc.Name()] = tc
		}
	}
	for name := range s.conns {
		tc := want[name]
		if tc == nil || !tc.IsEnabled() || specOf(tc) != s.conns[name].spec {
			s.stop(name)
		}
		if tc == nil {
			// The trust ends on this side: forget the identity, so that a
			// new trusted_cluster joins afresh.
			if err := forget(rctx, s.cfg.Store, name); err != nil {
				s.cfg.Logger.Warn("forget root cluster identity", "root", name, "err", err)
			}
			s.cfg.Logger.Info("trusted_cluster removed: disconnected from the root", "root", name)
		}
	}
	for name, tc := range want {
		if _, ok := s.conns[name]; ok || !tc.IsEnabled() {
			continue
		}
		c := &conn{svc: s, tc: tc}
		cctx, cancel := context.WithCancel(ctx)
		r := &running{spec: specOf(tc), cancel: cancel, done: make(chan struct{})}
		s.conns[name] = r
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(r.done)
			c.run(cctx)
		}()
	}
}

func (s *Service) stop(name string) {
	r := s.conns[name]
	r.cancel()
	<-r.done
	delete(s.conns, name)
}

func specOf(tc *resource.TrustedCluster) string {
	data, _ := resource.Marshal(tc)
	return string(data)
}
