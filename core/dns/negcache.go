package dns

import (
	"context"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// NegativeCache is an Upstream that remembers negative answers (NXDOMAIN,
// or NOERROR without records) for names in scope, so that names inside
// VNet's zones that are not apps do not cost an upstream round trip on
// every query. Entries live for the answer's own negative TTL (RFC 2308:
// the SOA's minimum) but never longer than MaxTTL. Flush forgets
// everything: the engine calls it when the catalog changes, because a new
// app may now own a name whose absence was cached.
type NegativeCache struct {
	next    Upstream               // never nil
	inScope func(name string) bool // never nil; name is lower-case, no trailing dot
	maxTTL  time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[negKey]negEntry // guarded by mu; at most maxNegEntries
}

// maxNegEntries bounds the cache; when full, expired entries go first,
// then an arbitrary one.
const maxNegEntries = 4096

type negKey struct {
	name         string
	qtype, class uint16
}

type negEntry struct {
	resp    *mdns.Msg
	expires time.Time
}

// NewNegativeCache caches next's negative answers for names inScope for at
// most maxTTL.
func NewNegativeCache(next Upstream, inScope func(name string) bool, maxTTL time.Duration) *NegativeCache {
	return &NegativeCache{next: next, inScope: inScope, maxTTL: maxTTL, now: time.Now, entries: map[negKey]negEntry{}}
}

// Exchange answers from the cache when it can, else asks next.
func (c *NegativeCache) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	if len(q.Question) != 1 || !c.inScope(normalizeName(q.Question[0].Name)) {
		return c.next.Exchange(ctx, q)
	}
	qq := q.Question[0]
	key := negKey{name: strings.ToLower(mdns.Fqdn(qq.Name)), qtype: qq.Qtype, class: qq.Qclass}
	if resp := c.get(key); resp != nil {
		resp.Id = q.Id
		resp.Question = []mdns.Question{qq} // the asker's casing
		return resp, nil
	}
	resp, err := c.next.Exchange(ctx, q)
	if err != nil || resp == nil {
		return resp, err
	}
	if ttl, ok := negativeTTL(resp); ok {
		c.put(key, resp, min(ttl, c.maxTTL))
	}
	return resp, nil
}

// Flush forgets every cached answer.
func (c *NegativeCache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// Len is how many answers are cached (expired ones included until they
// are replaced).
func (c *NegativeCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *NegativeCache) get(key negKey) *mdns.Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, key)
		return nil
	}
	return e.resp.Copy()
}

func (c *NegativeCache) put(key negKey, resp *mdns.Msg, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxNegEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxNegEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = negEntry{resp: resp.Copy(), expires: now.Add(ttl)}
}

// negativeTTL reports whether resp is a negative answer and for how long
// it may be cached: the SOA's minimum or its TTL, whichever is smaller
// (RFC 2308 section 5); without a SOA it is not cached.
func negativeTTL(resp *mdns.Msg) (time.Duration, bool) {
	negative := resp.Rcode == mdns.RcodeNameError || (resp.Rcode == mdns.RcodeSuccess && len(resp.Answer) == 0)
	if !negative || resp.Truncated {
		return 0, false
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*mdns.SOA); ok {
			return time.Duration(min(soa.Minttl, soa.Hdr.Ttl)) * time.Second, true
		}
	}
	return 0, false
}
