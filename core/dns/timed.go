package dns

import (
	"context"
	"time"

	mdns "github.com/miekg/dns"
)

// Timed is up that tells observe, once per query it forwards, whether the
// query failed (no answer: Exchange's error) and how long it took. When
// up forwards on the wire (the chain the engine builds), so does Timed:
// the usual answer is timed from the query's send to the answer's
// arrival, and a query handed over to Exchange from the same send to
// Exchange's return. `vnet up --metrics-addr` wraps its chain in it.
func Timed(up Upstream, observe func(failed bool, d time.Duration)) Upstream {
	return timed{next: up, observe: observe}
}

type timed struct {
	next    Upstream
	observe func(failed bool, d time.Duration)
}

func (t timed) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	start := time.Now()
	if h, _ := ctx.Value(handoverKey{}).(*handover); h != nil {
		start = h.sentAt // forwarded on the wire first
	}
	resp, err := t.next.Exchange(ctx, q)
	t.observe(err != nil || resp == nil, time.Since(start))
	return resp, err
}

// exchangeWire: observe is told of the usual answer when it reaches the
// client (wireExchange.done).
func (t timed) exchangeWire(x *wireExchange) bool {
	next, ok := t.next.(wireUpstream)
	if !ok || x.observe != nil {
		return false
	}
	x.observe = t.observe
	if !next.exchangeWire(x) {
		x.observe = nil
		return false
	}
	return true
}
