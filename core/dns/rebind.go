package dns

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"
)

// RebindGuard is an Upstream that keeps forwarded answers from pointing
// into VNet's own addresses. Without it a name outside VNet's zones (a web
// page's own domain, say) could be answered upstream with an app's virtual
// address, and a browser would then send that page's requests, with the
// page's origin, through VNet to the app: DNS rebinding.
//
// Every A and AAAA record whose address is VNet's is removed, in every
// section, together with the signatures over its RRset, which no longer
// verify. If a record left the answer section and no A or AAAA record for
// the question's name (or its CNAME chain) is left there, the section is
// emptied, CNAMEs that led there included: the client gets the upstream's
// rcode with no answer. Answers with no such record pass unchanged. Names
// VNet answers itself never come here.
type RebindGuard struct {
	next   Upstream              // never nil
	isVNet func(netip.Addr) bool // never nil; given unmapped addresses
	log    *slog.Logger          // never nil
}

// NewRebindGuard guards next's answers: isVNet reports whether an address
// belongs to VNet (any cluster's range, the machine's ULA prefix) and must
// be safe for concurrent use. A nil log means slog.Default().
func NewRebindGuard(next Upstream, isVNet func(netip.Addr) bool, log *slog.Logger) *RebindGuard {
	if log == nil {
		log = slog.Default()
	}
	return &RebindGuard{next: next, isVNet: isVNet, log: log}
}

// Exchange asks next and removes what points into VNet from its answer.
func (g *RebindGuard) Exchange(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) {
	resp, err := g.next.Exchange(ctx, q)
	if err != nil || resp == nil {
		return resp, err
	}
	var (
		dropped []netip.Addr
		touched map[rrsetKey]bool // RRsets that lost a record
	)
	keep := func(rr mdns.RR) bool {
		a, ok := rrAddr(rr)
		if !ok || !g.isVNet(a) {
			return true
		}
		dropped = append(dropped, a)
		if touched == nil {
			touched = map[rrsetKey]bool{}
		}
		h := rr.Header()
		touched[rrsetKey{strings.ToLower(h.Name), h.Rrtype}] = true
		return false
	}
	// DeleteFunc changes nothing when it deletes nothing: an answer
	// without VNet's addresses is handed on as it came.
	resp.Answer = slices.DeleteFunc(resp.Answer, not(keep))
	fromAnswer := len(dropped) > 0
	resp.Ns = slices.DeleteFunc(resp.Ns, not(keep))
	resp.Extra = slices.DeleteFunc(resp.Extra, not(keep))
	if len(dropped) == 0 {
		return resp, nil
	}
	unsigned := func(rr mdns.RR) bool {
		sig, ok := rr.(*mdns.RRSIG)
		return !ok || !touched[rrsetKey{strings.ToLower(sig.Hdr.Name), sig.TypeCovered}]
	}
	resp.Answer = slices.DeleteFunc(resp.Answer, not(unsigned))
	resp.Ns = slices.DeleteFunc(resp.Ns, not(unsigned))
	resp.Extra = slices.DeleteFunc(resp.Extra, not(unsigned))
	name, qtype := "", ""
	if len(q.Question) > 0 {
		name, qtype = q.Question[0].Name, mdns.TypeToString[q.Question[0].Qtype]
	}
	if fromAnswer && !hasAddrFor(resp.Answer, name) {
		resp.Answer = nil
	}
	// A warning: a person should see that an answer was changed.
	g.log.WarnContext(ctx, "dns: upstream answer pointed into VNet; records removed",
		"name", name, "type", qtype, "dropped", dropped, "answers_left", len(resp.Answer))
	return resp, nil
}

type rrsetKey struct {
	name  string // lower case, as in the record (fully qualified)
	rtype uint16
}

// rrAddr is the address an A or AAAA record holds, unmapped: a client on a
// dual-stack socket reaches ::ffff:100.64.1.1 at 100.64.1.1.
func rrAddr(rr mdns.RR) (netip.Addr, bool) {
	var ip []byte
	switch rr := rr.(type) {
	case *mdns.A:
		ip = rr.A
	case *mdns.AAAA:
		ip = rr.AAAA
	default:
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

// hasAddrFor reports whether answer holds an A or AAAA record for name or
// for a name its CNAME chain in answer leads to.
func hasAddrFor(answer []mdns.RR, name string) bool {
	names := map[string]bool{strings.ToLower(mdns.Fqdn(name)): true}
	// Each pass adds the targets of CNAMEs owned by names already known;
	// a chain has at most len(answer) links, and loops end when nothing
	// new is added.
	for grew := true; grew; {
		grew = false
		for _, rr := range answer {
			c, ok := rr.(*mdns.CNAME)
			if !ok || !names[strings.ToLower(c.Hdr.Name)] {
				continue
			}
			if t := strings.ToLower(c.Target); !names[t] {
				names[t], grew = true, true
			}
		}
	}
	return slices.ContainsFunc(answer, func(rr mdns.RR) bool {
		_, ok := rrAddr(rr)
		return ok && names[strings.ToLower(rr.Header().Name)]
	})
}

func not(f func(mdns.RR) bool) func(mdns.RR) bool {
	return func(rr mdns.RR) bool { return !f(rr) }
}
