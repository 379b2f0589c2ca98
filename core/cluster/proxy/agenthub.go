package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/tunnel"
)

// The reverse dials: a machine that holds a control stream here (an agent,
// or a leaf cluster) is asked over it to dial, and answers with an
// Agent.Connect stream that the dial waiting here takes.

// errAgentGone: the agent asked to dial is not connected to this proxy
// (any more). The caller tries another agent.
var errAgentGone = errors.New("agent not connected to this proxy")

// agentLink is one agent's control stream on this proxy.
type agentLink struct {
	id   string
	addr string                   // the agent's address, for logs
	send chan *api.ProxyMessage   // to the stream's one writer; bounded
	done chan struct{}            // closed when the control stream has ended
	apps atomic.Pointer[[]string] // names of the apps it registered; never nil after attach
	// removed is closed when the agent is removed from the cluster: its
	// control stream and app connections end.
	removed    chan struct{}
	removeOnce sync.Once
}

func newAgentLink(id, addr string) *agentLink {
	l := &agentLink{id: id, addr: addr, send: make(chan *api.ProxyMessage, 64), done: make(chan struct{}), removed: make(chan struct{})}
	l.apps.Store(&[]string{})
	return l
}

// remove cuts the link of a removed agent. Idempotent.
func (l *agentLink) remove() { l.removeOnce.Do(func() { close(l.removed) }) }

// startWriter runs the one writer of the link's control stream: it sends
// what is queued on l.send until ctx ends; a failed send goes to onErr.
func (l *agentLink) startWriter(ctx context.Context, send func(*api.ProxyMessage) error, onErr func(error)) {
	go func() {
		for {
			select {
			case m := <-l.send:
				if err := send(m); err != nil {
					onErr(err)
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
}

func (l *agentLink) setApps(apps []*resource.App) {
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name()
	}
	l.apps.Store(&names)
}

func (l *agentLink) serves(app string) bool {
	for _, n := range *l.apps.Load() {
		if n == app {
			return true
		}
	}
	return false
}

// answer is what an agent's Connect stream brings to the dial waiting
// for it.
type answer struct {
	conn *tunnel.Conn // nil if err is set
	err  error
}

type pendingDial struct {
	agent string
	ch    chan answer // buffered: the answering handler never blocks
}

// agentHub holds the agents connected to this proxy and the reverse dials
// waiting for their answers.
type agentHub struct {
	links linkSet[agentLink] // by agent ID

	mu      sync.Mutex
	pending map[uint64]*pendingDial // by dial ID; guarded by mu
	nextID  atomic.Uint64
}

func newAgentHub() *agentHub {
	return &agentHub{pending: map[uint64]*pendingDial{}}
}

// attach makes l the agent's link. A link of the same agent that is still
// attached (the agent reconnected before its old stream ended) is
// replaced and returned.
func (h *agentHub) attach(l *agentLink) (old *agentLink) { return h.links.attach(l.id, l) }

// detach removes l if it is still the agent's link.
func (h *agentHub) detach(l *agentLink) { h.links.detach(l.id, l) }

func (h *agentHub) link(id string) *agentLink { return h.links.get(id) }

// serving returns the links of the agents serving app.
func (h *agentHub) serving(app string) []*agentLink {
	var out []*agentLink
	for _, l := range h.links.all() {
		if l.serves(app) {
			out = append(out, l)
		}
	}
	return out
}

// take removes and returns the dial id if agent may answer it.
func (h *agentHub) take(id uint64, agent string) *pendingDial {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.pending[id]
	if p == nil || p.agent != agent {
		return nil
	}
	delete(h.pending, id)
	return p
}

// dial asks the agent behind l to connect to port of app and waits for its
// Connect stream, until ctx is done or the agent goes away.
func (h *agentHub) dial(ctx context.Context, l *agentLink, app string, port uint16, clientAddr string) (*tunnel.Conn, error) {
	return h.request(ctx, l, &api.AgentDial{App: app, Port: uint32(port), ClientAddr: clientAddr})
}

// request sends d (its Id set here) on l's control stream and waits for
// the answer, as dial does; leaf clusters' dials carry the root user too.
func (h *agentHub) request(ctx context.Context, l *agentLink, d *api.AgentDial) (*tunnel.Conn, error) {
	id := h.nextID.Add(1)
	d.Id = id
	p := &pendingDial{agent: l.id, ch: make(chan answer, 1)}
	h.mu.Lock()
	h.pending[id] = p
	h.mu.Unlock()

	giveUp := func(err error) (*tunnel.Conn, error) {
		if h.take(id, l.id) == nil {
			// The answer is being delivered: take it and let it go.
			if a := <-p.ch; a.conn != nil {
				a.conn.Close()
			}
		}
		return nil, err
	}
	msg := &api.ProxyMessage{Dial: d}
	select {
	case l.send <- msg:
	case <-l.done:
		return giveUp(errAgentGone)
	case <-ctx.Done():
		return giveUp(fmt.Errorf("agent %s is not reading its control stream: %w", l.id, ctx.Err()))
	}
	select {
	case a := <-p.ch:
		return a.conn, a.err
	case <-l.done:
		return giveUp(errAgentGone)
	case <-ctx.Done():
		return giveUp(fmt.Errorf("agent %s did not answer: %w", l.id, ctx.Err()))
	}
}
