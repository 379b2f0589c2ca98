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
	// Close releases the host. Called once, when the instance is over
	// and the last callback has returned (an abandoned ApplySettings
	// call included).
	Close()
}

// State is where an instance is in its life.
type State string

// The states of an instance. A stopped instance has no handle, so it has
// no state to show.
const (
	// StateStarting lasts until the first settings are in force. C never
	// sees it: vnet_start hands out the handle only once VNet runs, so
	// vnet.h documents only the other two (reportedStates).
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateFailed   State = "failed" // ended by itself; see the error
)

// reportedStates are the states vnet_status can report (vnet.h lists
// them; TestHeaderStates holds the two equal).
var reportedStates = []State{StateRunning, StateFailed}

// settingsTimeout bounds one apply_settings call (VNET_SETTINGS_TIMEOUT_MS
// in vnet.h; TestHeaderConstants holds the two equal): the extension
// gives up waiting for macOS by then, and VNet gives up waiting for the
// callback. A variable for tests.
var settingsTimeout = 10 * time.Second

// instance is one VNet: an engine over a packetQueue, talking to the OS
// through a host. Made by startInstance, ended by stop.
type instance struct {
	opts   *startOptions
	host   host
	log    *slog.Logger
	queue  *packetQueue
	runner *vnet.Runner
	ctx    context.Context    // done once stop is called; bounds diagnoses too
	cancel context.CancelFunc // ends run

	// applying holds a token while an ApplySettings call runs, also one
	// VNet gave up waiting for: so the callback never runs twice at once
	// and the host is closed only after it has returned.
	applying  chan struct{}
	closeOnce sync.Once

	// The "JSON out" texts kept for a retry (out.go).
	statusOut, diagnosisOut measured

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
// settings are in force), or fails leaving nothing running but an
// ApplySettings call it gave up waiting for. It gives up at
// opts.deadline. The instance owns h from here: h is closed when the
// instance is over, also after a failed start.
func startInstance(opts *startOptions, h host) (*instance, error) {
	var err error
	in := &instance{
		opts:     opts,
		host:     h,
		log:      slog.New(newLogHandler(h, opts.logLevel)),
		up:       make(chan struct{}),
		refused:  make(chan struct{}),
		done:     make(chan struct{}),
		applying: make(chan struct{}, 1),
		state:    StateStarting,
	}
	if in.runner, err = vnet.Open(opts.engineOptions(in.log)); err != nil {
		in.closeHost()
		return nil, err
	}
	in.queue = newPacketQueue(opts.mtu, h.WritePackets)
	in.ctx, in.cancel = context.WithCancel(context.Background())
	go in.run(in.ctx)

	timer := time.NewTimer(time.Until(opts.deadline))
	defer timer.Stop()
	select {
	case <-in.up:
		return in, nil
	case <-in.done:
		in.closeHost()
		return nil, errors.New(in.failure())
	case <-in.refused:
		in.stop()
		return nil, errors.New(in.failure())
	case <-timer.C:
		why := "are the clusters reachable?"
		if len(in.applying) > 0 {
			why = "apply_settings has not returned"
		}
		in.stop()
		return nil, fmt.Errorf("VNet did not come up within %s: %s (start_timeout_ms)", opts.startTimeout, why)
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
// the Network Extension and waits until the host has them in force, at
// most settingsTimeout, and not past ctx (stop, a start's deadline). A
// call it stops waiting for goes on in the background holding the
// applying token; its result is dropped.
func (in *instance) applySettings(ctx context.Context, s netcfg.Settings) error {
	ts, err := tunnelSettings(s)
	if err != nil {
		return err
	}
	data, err := json.Marshal(ts)
	if err != nil {
		return err
	}
	timer := time.NewTimer(settingsTimeout)
	defer timer.Stop()
	select {
	case in.applying <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("apply network settings: the previous apply_settings call has not returned after %s", settingsTimeout)
	}
	result := make(chan error, 1)
	go func() {
		defer func() { <-in.applying }()
		result <- in.host.ApplySettings(data)
	}()
	select {
	case err = <-result:
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		err = fmt.Errorf("not in force after %s (VNET_SETTINGS_TIMEOUT_MS)", settingsTimeout)
	}
	if err != nil {
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

// stop ends the instance and returns once everything it started is gone
// but an ApplySettings call it gave up waiting for; the host is closed
// when that returns. It is idempotent.
func (in *instance) stop() {
	in.mu.Lock()
	in.stopping = true
	in.mu.Unlock()
	in.cancel()
	<-in.done
	in.closeHost()
}

// closeHost closes the host once no callback runs: now, or when an
// abandoned ApplySettings call returns.
func (in *instance) closeHost() {
	in.closeOnce.Do(func() {
		select {
		case in.applying <- struct{}{}:
			in.host.Close()
		default:
			go func() {
				in.applying <- struct{}{}
				in.host.Close()
			}()
		}
	})
}

// oneLine is the one line a person sees for err, safe to copy into a C
// string.
func oneLine(err error) string { return cText(api.ErrorLine(err)) }
