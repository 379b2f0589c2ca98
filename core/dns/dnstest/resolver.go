package dnstest

import (
	"context"
	"strings"
	"sync"

	"github.com/vnetproject/vnet/core/dns"
)

// Query is one call the fake Resolver saw.
type Query struct {
	Name  string
	Qtype uint16
}

// Resolver is a fake dns.Resolver. It owns the names given to Set, with
// their answer, and every name at or below a suffix given to AddZone, with
// an empty answer. It records every call and is safe for concurrent use.
type Resolver struct {
	mu    sync.Mutex
	names map[string]dns.Answer // guarded by mu
	zones []string              // guarded by mu
	calls []Query               // guarded by mu
}

// NewResolver returns a Resolver that owns nothing yet.
func NewResolver() *Resolver {
	return &Resolver{names: map[string]dns.Answer{}}
}

// Set makes name (any case, dot or not) VNet's, answered with ans.
func (r *Resolver) Set(name string, ans dns.Answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names[canonical(name)] = ans
}

// AddZone makes suffix and every name below it VNet's.
func (r *Resolver) AddZone(suffix string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.zones = append(r.zones, canonical(suffix))
}

// Resolve implements dns.Resolver. It looks name up exactly as given, so a
// server that forgot to normalise fails tests.
func (r *Resolver) Resolve(_ context.Context, name string, qtype uint16) (dns.Answer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, Query{Name: name, Qtype: qtype})
	if ans, ok := r.names[name]; ok {
		return ans, true
	}
	for _, z := range r.zones {
		if name == z || strings.HasSuffix(name, "."+z) {
			return dns.Answer{}, true
		}
	}
	return dns.Answer{}, false
}

// Calls returns the calls seen so far, oldest first.
func (r *Resolver) Calls() []Query {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Query(nil), r.calls...)
}

func canonical(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}
