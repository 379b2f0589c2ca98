package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// host is the OS side of an instance: the C callbacks in production
// (callbacks.go), a Go fake in tests.
type host interface {
	// WritePackets hands packets to the OS; never called concurrently.
	WritePackets(pkts [][]byte) error
	// ApplySettings puts settingsJSON (a TunnelSettings) in force.
	ApplySettings(settingsJSON []byte) error
	// Log receives one log line.
	Log(level slog.Level, line string)
	// Stopped reports that a running instance ended by itself.
	Stopped(reason string)
}

// State is where an instance is in its life.
type State string

// The states of an instance. A stopped instance has no handle, so it has
// no state to show.
const (
	StateStarting State = "starting" // until the first settings are in force
	StateRunning  State = "running"
	StateFailed   State = "failed" // ended by itself; see the error
)

// instance is one VNet: an engine over a packetQueue, talking to the OS
// through a host. Made by startInstance, ended by stop.
type instance struct {
	opts     *startOptions
	host     host
	log      *slog.Logger
	upstream *dns.Forwarder
	queue    *packetQueue
	clusters *vnet.Clusters
	engine   *vnet.Engine
	cancel   context.CancelFunc // ends run

	up     chan struct{} // closed once the first settings are in force
	upOnce sync.Once
	// refused is closed when the host refuses the first settings: the
	// start has failed, though the engine would retry at the next change.
	refused     chan struct{}
	refusedOnce sync.Once
	done        chan struct{} // closed when run has returned and released everything

	mu       sync.Mutex
	state    State  // guarded by mu
	err      string // guarded by mu; why the instance failed
	stopping bool   // guarded by mu; stop was called, so no Stopped callback
}

// startInstance starts VNet as opts say and returns once it serves (its
// settings are in force), or fails leaving nothing running.
func startInstance(opts *startOptions, h host) (*instance, error) {
	var err error
	in := &instance{
		opts:    opts,
		host:    h,
		log:     slog.New(newLogHandler(h, opts.logLevel)),
		up:      make(chan struct{}),
		refused: make(chan struct{}),
		done:    make(chan struct{}),
		state:   StateStarting,
	}
	profiles, err := profile.LoadAll(opts.profileDir)
	if err != nil {
		return nil, err
	}
	if in.upstream, err = dns.NewForwarder(opts.upstream, upstreamTimeout); err != nil {
		return nil, err
	}
	if in.clusters, err = vnet.Connect(profiles); err != nil {
		return nil, err
	}
	cat, err := catalog.New(in.clusters.Logins(), in.log)
	if err != nil {
		in.clusters.Close()
		return nil, err
	}
	in.queue = newPacketQueue(opts.mtu, h.WritePackets)
	var ula netip.Prefix
	if opts.ipv6 {
		if ula, err = vnet.LoadOrCreateULA(filepath.Join(opts.profileDir, "ula-prefix")); err != nil {
			in.clusters.Close()
			return nil, err
		}
	}
	secret, err := vnet.LoadOrCreateSecret(filepath.Join(opts.profileDir, "address-secret"))
	if err != nil {
		in.clusters.Close()
		return nil, err
	}
	// No cluster's range may cover a proxy or an upstream resolver. (The
	// host's own networks are not read here yet: see docs/gaps.md.)
	in.clusters.SetLogger(in.log)
	upstreamPrefixes := vnet.AddrPrefixes(opts.upstream)
	in.engine, err = vnet.New(vnet.Config{
		Protected:     func() []netip.Prefix { return slices.Concat(in.clusters.ProxyPrefixes(), upstreamPrefixes) },
		ULA:           ula,
		AddressSecret: secret,
		IO:            in.queue,
		Catalog:       cat,
		Dialer:        in.clusters,
		Upstream:      in.upstream,
		MTU:           opts.mtu,
		Logger:        in.log,
		ApplySettings: in.applySettings,
	})
	if err != nil {
		in.clusters.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go in.run(ctx, cat)

	timer := time.NewTimer(opts.startTimeout)
	defer timer.Stop()
	select {
	case <-in.up:
		return in, nil
	case <-in.done:
		return nil, errors.New(in.failure())
	case <-in.refused:
		in.stop()
		return nil, errors.New(in.failure())
	case <-timer.C:
		in.stop()
		return nil, fmt.Errorf("VNet did not come up within %s: are the clusters reachable? (start_timeout_ms)", opts.startTimeout)
	}
}

// run serves until ctx is done or the engine fails, then releases the
// instance's connections and reports an end it was not asked for.
func (in *instance) run(ctx context.Context, cat *catalog.Catalog) {
	defer close(in.done)
	// Logins, re-logins and logouts in profile_dir reach the running VNet.
	fctx, stopFollow := context.WithCancel(ctx)
	following := make(chan struct{})
	go func() {
		defer close(following)
		in.clusters.Follow(fctx, in.opts.profileDir, cat)
	}()
	err := in.engine.Run(ctx)
	stopFollow()
	<-following
	in.queue.Close()
	if cerr := in.clusters.Close(); cerr != nil {
		in.log.Debug("close cluster connections", "err", cerr)
	}
	in.mu.Lock()
	if in.stopping {
		in.mu.Unlock()
		return
	}
	if err == nil {
		err = errors.New("VNet stopped")
	}
	wasUp := in.state == StateRunning
	in.state, in.err = StateFailed, oneLine(err)
	in.mu.Unlock()
	if wasUp {
		in.log.Error("VNet stopped by itself", "err", err)
		in.host.Stopped(oneLine(err))
	}
}

// applySettings is the engine's ApplySettings: it shapes the settings for
// the Network Extension and waits until the host has them in force.
func (in *instance) applySettings(_ context.Context, s netcfg.Settings) error {
	ts, err := tunnelSettings(s)
	if err != nil {
		return err
	}
	data, err := json.Marshal(ts)
	if err != nil {
		return err
	}
	if err := in.host.ApplySettings(data); err != nil {
		err = fmt.Errorf("apply network settings: %w", err)
		in.mu.Lock()
		if in.state == StateStarting {
			in.err = oneLine(err)
			in.refusedOnce.Do(func() { close(in.refused) })
		}
		in.mu.Unlock()
		return err
	}
	in.mu.Lock()
	if in.state == StateStarting {
		in.state = StateRunning
	}
	in.mu.Unlock()
	in.upOnce.Do(func() { close(in.up) })
	return nil
}

// failure is why the instance ended.
func (in *instance) failure() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// stop ends the instance and returns once everything it started is gone.
// It is idempotent.
func (in *instance) stop() {
	in.mu.Lock()
	in.stopping = true
	in.mu.Unlock()
	in.cancel()
	<-in.done
}

// oneLine is the one line a person sees for err.
func oneLine(err error) string { return api.ErrorLine(err) }
