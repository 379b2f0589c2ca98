package proxy

import (
	"context"
	"log/slog"
	"time"

	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/state"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// agents is the part of the proxy that serves App Service agents: their
// joins and control streams (agentservice.go), the registrations of their
// apps (registry.go), the dials through them, here or forwarded to the
// proxy that holds an agent's stream (route.go, peer.go), and their
// administration (agentadmin.go).
type agents struct {
	cluster     string
	heartbeat   time.Duration // how often agents beat
	dialTimeout time.Duration
	log         *slog.Logger
	auth        *auth.Service // agents' records
	state       *state.State  // apps
	life        *life
	audit       *auditor
	sessions    *sessionSet // tunnels through an agent end with it
	hub         *agentHub   // the agents connected here; leaves' dials wait here too
	registry    *registry
	peers       *peerPool
}

// sweepLoop removes, every heartbeat interval, the apps of agents gone
// past the timeout, whichever proxy held them.
func (a *agents) sweepLoop() {
	defer a.peers.close()
	t := time.NewTicker(a.heartbeat)
	defer t.Stop()
	var hold sweepHold
	for {
		select {
		case <-a.life.ctx.Done():
			return
		case <-t.C:
		}
		if !hold.may(store.Health(a.registry.store) == nil, time.Now(), a.registry.ttl) {
			continue
		}
		ctx, cancel := context.WithTimeout(a.life.ctx, registryTimeout)
		if err := a.registry.sweepLocked(ctx); err != nil && a.life.ctx.Err() == nil {
			a.log.Warn("sweep agent registrations", "err", err)
		}
		cancel()
	}
}

// sweepHold keeps the sweep away while the store is unavailable and for
// one registration lifetime after it answers again: the agents' renewals
// could not be written meanwhile, so every registration looks expired
// until they are, and a sweep then would remove the apps of live agents.
type sweepHold struct {
	downAt time.Time // the last sweep time the store was unavailable; zero if never
}

// may reports whether a sweep may run now; up: the store answers.
func (h *sweepHold) may(up bool, now time.Time, ttl time.Duration) bool {
	if !up {
		h.downAt = now
		return false
	}
	return h.downAt.IsZero() || now.Sub(h.downAt) > ttl
}
