package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/netcfg"
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
	opts   *startOptions
	host   host
	log    *slog.Logger
	queue  *packetQueue
	runner *vnet.Runner
	cancel context.CancelFunc // ends run

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
	if in.runner, err = vnet.Open(opts.engineOptions(in.log)); err != nil {
		return nil, err
	}
	in.queue = newPacketQueue(opts.mtu, h.WritePackets)
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	go in.run(ctx)

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
func (in *instance) run(ctx context.Context) {
	defer close(in.done)
	err := in.runner.Run(ctx, engineHost{packetQueue: in.queue, in: in})
	in.queue.Close()
	if cerr := in.runner.Close(); cerr != nil {
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

// engineOptions are the engine's options for o, logging to log.
func (o *startOptions) engineOptions(log *slog.Logger) vnet.Options {
	return vnet.Options{
		ProfileDir: o.profileDir,
		StateDir:   o.profileDir, // the ULA prefix and address secret live beside the profiles
		Upstream:   o.upstream,
		MTU:        o.mtu,
		HostMTU:    hostMTU,
		IPv6:       o.ipv6,
		Logger:     log,
	}
}

// engineHost is an instance as the engine's host: the queue carries the
// packets, the Network Extension puts the settings in force.
type engineHost struct {
	*packetQueue
	in *instance
}

func (h engineHost) ApplySettings(ctx context.Context, s netcfg.Settings) error {
	return h.in.applySettings(ctx, s)
}

// LocalPrefixes is nil: the host's own networks are not read here yet
// (docs/gaps.md); the proxies and upstream resolvers are still kept off
// every cluster's range.
func (engineHost) LocalPrefixes() []netip.Prefix { return nil }

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
