// Package diag explains what VNet depends on and why a name does or does
// not work: the checks behind `vnet diag` and the macOS menu's "Run
// diagnostics", so both say the same things.
package diag

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/vnet"
)

// Timeout bounds a whole diagnosis.
const Timeout = 10 * time.Second

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	// Time, when set, ends what Detail says ("certificate valid until"):
	// Text shows it as people read times (api.TimeText), JSON in RFC 3339.
	Time time.Time `json:"time,omitzero"`
}

// Text is the finding's detail as a person reads it, its time included.
func (c Check) Text() string {
	if c.Time.IsZero() {
		return c.Detail
	}
	return c.Detail + " " + api.TimeText(c.Time)
}

// Diagnosis is every finding, in the order they were made.
type Diagnosis struct {
	Checks []Check `json:"checks"`
}

// Fetcher asks a cluster for its offer once (catalog.ProxySource).
type Fetcher interface {
	Fetch(ctx context.Context) (catalog.Cluster, error)
}

// Env is what a diagnosis looks at: a running VNet and its inputs.
type Env struct {
	Status   func() vnet.Status // the engine's status; nil when VNet is not running
	Profiles []*profile.Profile
	Clusters []Fetcher    // one per profile, same order
	Upstream dns.Upstream // the resolvers names that are not VNet's go to
	Now      time.Time
	// Resolve and Dial reach a name the way any program on the machine
	// does (the OS resolver, a kernel socket); defaults: net.DefaultResolver
	// and net.Dialer.
	Resolve func(ctx context.Context, name string) ([]netip.Addr, error)
	Dial    func(ctx context.Context, addr netip.AddrPort) error
}

// Run checks VNet itself, every login, every cluster (asked now), the
// upstream resolvers, and then, if name is not empty, that name on port.
func Run(ctx context.Context, env Env, name string, port uint16) Diagnosis {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	var checks []Check
	var st vnet.Status
	if env.Status != nil {
		st = env.Status()
	}
	engine := Check{Name: "VNet", OK: st.Running}
	if engine.OK {
		engine.Detail = fmt.Sprintf("running: DNS at %v for %v, %d apps", st.Settings.DNSAddrs, st.Settings.DNSZones, len(st.Apps))
	} else {
		engine.Detail = "not running"
	}
	checks = append(checks, engine)
	checks = append(checks, Refused(st)...)
	logins := Profiles(env.Profiles, env.Now)
	asked, errs := concurrently(ctx, env)
	confirmLogins(logins, errs)
	checks = append(checks, logins...)
	checks = append(checks, asked...)
	if name != "" {
		checks = append(checks, Name(ctx, env, st, name, port)...)
	}
	return Diagnosis{Checks: checks}
}

// Refused is one failing check per claim a cluster made that the laptop
// (or the cluster's root) refused, and per app that can have no name: the
// rest works, but these do not, and here is why.
func Refused(st vnet.Status) []Check {
	var out []Check
	for _, r := range st.Refused {
		name := fmt.Sprintf("refused %s of %s", r.Kind, r.ClusterName)
		if r.Kind == catalog.KindRoot {
			name = "refused by the root of " + r.ClusterName
		}
		out = append(out, Check{Name: name, Detail: r.String()})
	}
	// Apps that can have no name at all (no public_addr, and a name that
	// is not a DNS label): nothing else would mention them.
	for _, a := range st.Apps {
		if a.PublicAddr == "" && a.Unreachable != "" {
			out = append(out, Check{Name: "app " + a.Name + " of " + a.Cluster, Detail: fmt.Sprintf("no name (cluster at %s): %s", a.ClusterID, a.Unreachable)})
		}
	}
	return out
}

// Profiles checks that every login's certificate is still valid.
func Profiles(ps []*profile.Profile, now time.Time) []Check {
	var out []Check
	for _, p := range ps {
		c := Check{Name: fmt.Sprintf("login to %s as %s at %s", p.ClusterName, p.User, p.ProxyAddr)}
		exp, err := p.Expires()
		switch {
		case err != nil:
			c.Detail = "profile has no valid certificate: " + err.Error()
		case !now.Before(exp):
			c.Detail = fmt.Sprintf("certificate expired: run 'vnet login --proxy=%s --user=%s' again", p.ProxyAddr, p.User)
		default:
			c.OK, c.Detail, c.Time = true, "certificate valid until", exp
		}
		out = append(out, c)
	}
	return out
}

// confirmLogins fails a login whose certificate is valid here but which
// its cluster refused when asked just now (a removed user, a revoked
// certificate): a login is fine only if the cluster says so too, so that
// "ok login" never stands beside "FAIL user no longer exists". errs are
// the clusters' answers, in login order.
func confirmLogins(logins []Check, errs []error) {
	for i := range logins {
		if i >= len(errs) || !logins[i].OK || errs[i] == nil {
			continue
		}
		switch grpcstatus.Code(errs[i]) {
		case codes.Unauthenticated, codes.PermissionDenied:
			logins[i].OK, logins[i].Time = false, time.Time{}
			logins[i].Detail = "the cluster refuses this login: " + api.ErrorLine(errs[i]) + ": ask your administrator, then log in again"
		}
	}
}

// concurrently asks every cluster and the upstream resolvers at once; errs
// are the clusters' errors, in order.
func concurrently(ctx context.Context, env Env) (checks []Check, errs []error) {
	out := make([]Check, len(env.Clusters)+1)
	errs = make([]error, len(env.Clusters))
	var wg sync.WaitGroup
	for i, f := range env.Clusters {
		wg.Go(func() {
			where := "cluster"
			if i < len(env.Profiles) {
				where += " at " + env.Profiles[i].ProxyAddr
			}
			out[i] = Check{Name: where}
			c, err := f.Fetch(ctx)
			if err != nil {
				out[i].Detail, errs[i] = api.ErrorLine(err), err
				return
			}
			out[i].OK = true
			out[i].Detail = fmt.Sprintf("%s answers: %d apps you may reach, DNS zones %v, range %s", c.Name, len(c.Apps), c.Zones, c.IPv4Range)
		})
	}
	wg.Go(func() { out[len(env.Clusters)] = upstream(ctx, env) })
	wg.Wait()
	if env.Upstream == nil {
		out = out[:len(env.Clusters)]
	}
	return out, errs
}

// upstream asks the upstream resolvers for the first proxy's name: a name
// VNet always forwards, so it shows whether forwarding works.
func upstream(ctx context.Context, env Env) Check {
	c := Check{Name: "upstream DNS"}
	if env.Upstream == nil || len(env.Profiles) == 0 {
		return c
	}
	host, _, err := net.SplitHostPort(env.Profiles[0].ProxyAddr)
	if err != nil {
		host = env.Profiles[0].ProxyAddr
	}
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(host), mdns.TypeA)
	resp, err := env.Upstream.Exchange(ctx, q)
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%s: %s", host, api.ErrorLine(err))
	case resp.Rcode == mdns.RcodeServerFailure:
		c.Detail = host + ": SERVFAIL"
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%s: %s, %d answers", host, mdns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	return c
}

// Name follows one name the way a client's connection would: does a
// cluster capture it, is it an app this user may reach, does the OS
// resolver send it to VNet, does a TCP connection get through, and if not,
// what the cluster said.
func Name(ctx context.Context, env Env, st vnet.Status, name string, port uint16) []Check {
	name = catalog.Normalize(name)
	var out []Check
	captured := Check{Name: "domain of " + name}
	zone := capturingZone(st.Settings.DNSZones, name)
	if zone != "" {
		captured.OK, captured.Detail = true, "inside "+zone+", which VNet captures"
	} else {
		captured.Detail = "outside every domain VNet captures: add a custom_dns_zones suffix for it to the vnet_config of the cluster that has the app"
	}
	for _, r := range st.Refused {
		if r.Kind == catalog.KindZone && catalog.InDomain(name, r.Claim) {
			captured.Detail += fmt.Sprintf(" (zone %s of cluster %s at %s was refused: %s)", r.Claim, r.ClusterName, r.Cluster, r.Reason)
		}
	}
	out = append(out, captured)

	// The app that has the name; else one that claims it but may not.
	i := slices.IndexFunc(st.Apps, func(a vnet.AppStatus) bool { return a.PublicAddr == name && a.IPv4.IsValid() })
	if i < 0 {
		i = slices.IndexFunc(st.Apps, func(a vnet.AppStatus) bool { return a.PublicAddr == name })
	}
	app := Check{Name: "app " + name}
	if i < 0 {
		app.Detail = "no app you may reach has this address: 'vnet apps' lists them; if it should be there, ask for a role that allows it"
		return append(out, app)
	}
	a := st.Apps[i]
	app.OK = a.IPv4.IsValid()
	app.Detail = fmt.Sprintf("app %s of cluster %s (%s) at %s %s", a.Name, a.Cluster, a.ClusterID, a.IPv4, optional(a.IPv6))
	if !app.OK {
		why := a.Unreachable
		if why == "" {
			why = "no address: see 'vnet status' problems"
		}
		app.Detail = fmt.Sprintf("app %s of cluster %s (%s): %s", a.Name, a.Cluster, a.ClusterID, why)
	}
	out = append(out, app)
	if !app.OK {
		return out
	}

	resolve := env.Resolve
	if resolve == nil {
		resolve = func(ctx context.Context, n string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", n)
		}
	}
	sys := Check{Name: "system resolver"}
	addrs, err := resolve(ctx, name)
	switch {
	case err != nil:
		sys.Detail = "lookup failed: " + err.Error() + ": the OS does not send this name to VNet (check the DNS mode of vnet up)"
	case slices.ContainsFunc(addrs, func(x netip.Addr) bool { return x.Unmap() == a.IPv4 || x == a.IPv6 }):
		sys.OK, sys.Detail = true, fmt.Sprintf("answers %v, VNet's addresses", addrs)
	default:
		sys.Detail = fmt.Sprintf("answers %v, not VNet's %s: another resolver answers this name first", addrs, a.IPv4)
	}
	out = append(out, sys)

	dial := env.Dial
	if dial == nil {
		dial = func(ctx context.Context, ap netip.AddrPort) error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", ap.String())
			if err == nil {
				c.Close()
			}
			return err
		}
	}
	conn := Check{Name: fmt.Sprintf("TCP to %s:%d", name, port)}
	if err := dial(ctx, netip.AddrPortFrom(a.IPv4, port)); err != nil {
		conn.Detail = err.Error()
		// The engine remembers what the cluster said about its last
		// refused dial: that is the why.
		if env.Status != nil {
			for _, b := range env.Status().Apps {
				if b.PublicAddr == name && b.LastError != "" {
					conn.Detail += "; the cluster said: " + b.LastError
				}
			}
		}
	} else {
		conn.OK, conn.Detail = true, "connected through VNet"
	}
	return append(out, conn)
}

func capturingZone(zones []string, name string) string {
	best := ""
	for _, z := range zones {
		if catalog.InDomain(name, z) && len(z) > len(best) {
			best = z
		}
	}
	return best
}

func optional(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return "and " + a.String()
}

// Text renders d for a terminal, one line per check.
func (d Diagnosis) Text() string {
	var b strings.Builder
	for _, c := range d.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(&b, "%s %-34s %s\n", mark, c.Name, c.Text())
	}
	return b.String()
}

// FetchersOf picks the logins' sources that can be asked once (proxy
// sources do).
func FetchersOf(logins []catalog.Login) []Fetcher {
	var out []Fetcher
	for _, l := range logins {
		if f, ok := l.Source.(Fetcher); ok {
			out = append(out, f)
		}
	}
	return out
}

// Of is what a diagnosis of the running VNet r looks at, at now: its
// status, its logins, their clusters and its upstream resolvers. `vnet up`
// and the bridge both diagnose through it.
func Of(r *vnet.Runner, now time.Time) Env {
	return Env{
		Status:   r.Status,
		Profiles: r.Clusters().Profiles(),
		Clusters: FetchersOf(r.Clusters().Logins()),
		Upstream: r.Upstream(),
		Now:      now,
	}
}
