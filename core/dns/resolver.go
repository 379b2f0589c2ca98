package dns

import (
	"context"
	"net/netip"
)

// Resolver decides whether VNet answers a name itself.
type Resolver interface {
	// Resolve is called for every question with the name lowercased and
	// without trailing dot. ok=false means the name is not VNet's and the
	// query is forwarded upstream. ok=true means VNet owns the name: the
	// server answers A queries with the IPv4 addresses of Addrs and AAAA
	// queries with the IPv6 ones; when there are none of that family, or
	// for any other type, it answers NOERROR with no records (NODATA).
	// Resolve must be safe for concurrent use and must not block: the
	// server calls it on the goroutine that reads the queries.
	Resolve(ctx context.Context, name string, qtype uint16) (Answer, bool)
}

// Answer is what VNet knows about a name it owns.
type Answer struct {
	// Addrs may mix IPv4 and IPv6; the server picks the family the
	// question asks for. IPv4-mapped IPv6 addresses count as IPv4.
	Addrs []netip.Addr
	// TTL of the records, in seconds. 0 tells clients not to cache.
	TTL uint32
	// Zone is the domain VNet answers for that holds the name. When set,
	// an answer with no records (NODATA) carries a SOA of Zone in its
	// authority section, so that caches keep the negative answer for TTL
	// seconds and no longer (RFC 2308 section 5).
	Zone string
}
