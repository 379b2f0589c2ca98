package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/vnetproject/vnet/core/catalog"
)

// fetcher is a catalog source that can be asked once, outside its watch.
type fetcher interface {
	Fetch(ctx context.Context) (catalog.Cluster, error)
}

// diagnoseTimeout bounds vnet_diagnose as a whole.
const diagnoseTimeout = 10 * time.Second

// Check is one finding of vnet_diagnose.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Diagnosis is what vnet_diagnose writes.
type Diagnosis struct {
	Checks []Check `json:"checks"`
}

// diagnose checks what the instance depends on, in this order: the engine
// itself, every login, every cluster (asked for its apps now) and the
// upstream resolvers. The network checks run at the same time.
func (in *instance) diagnose(ctx context.Context, now time.Time) Diagnosis {
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()

	st := in.status()
	engine := Check{Name: "VNet", OK: st.State == StateRunning}
	if engine.OK {
		engine.Detail = fmt.Sprintf("running: DNS at %v for %v, %d apps", st.Engine.Settings.DNSAddrs, st.Engine.Settings.DNSZones, len(st.Engine.Apps))
	} else {
		engine.Detail = fmt.Sprintf("%s: %s", st.State, st.Error)
	}
	checks := []Check{engine}
	for _, p := range describeProfiles(in.profiles, now) {
		c := Check{Name: fmt.Sprintf("login to %s as %s", p.Cluster, p.User), OK: !p.Expired}
		if c.OK {
			c.Detail = "certificate valid until " + p.Expires.Format(time.RFC3339)
		} else {
			c.Detail = fmt.Sprintf("certificate expired: run 'vnet login --proxy=%s --user=%s' again", p.Proxy, p.User)
		}
		checks = append(checks, c)
	}

	sources := in.clusters.Sources()
	found := make([]Check, len(sources)+1)
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Go(func() {
			p := in.profiles[i]
			found[i] = Check{Name: "cluster at " + p.ProxyAddr}
			f, ok := src.(fetcher)
			if !ok {
				found[i].Detail = "cannot be asked outside its watch"
				return
			}
			c, err := f.Fetch(ctx)
			if err != nil {
				found[i].Detail = oneLine(err)
				return
			}
			found[i].OK = true
			found[i].Detail = fmt.Sprintf("%s answers: %d apps, DNS zones %v, range %s", c.Name, len(c.Apps), c.Zones, c.IPv4Range)
		})
	}
	wg.Go(func() { found[len(sources)] = in.checkUpstream(ctx) })
	wg.Wait()
	return Diagnosis{Checks: append(checks, found...)}
}

// checkUpstream asks the upstream resolvers for the first proxy's name: a
// name VNet always forwards, so it shows whether forwarding works.
func (in *instance) checkUpstream(ctx context.Context) Check {
	servers := make([]string, 0, len(in.opts.upstream))
	for _, s := range in.opts.upstream {
		servers = append(servers, s.String())
	}
	c := Check{Name: "upstream DNS " + strings.Join(servers, ", ")}
	host, _, err := net.SplitHostPort(in.profiles[0].ProxyAddr)
	if err != nil {
		host = in.profiles[0].ProxyAddr
	}
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(host), mdns.TypeA)
	resp, err := in.upstream.Exchange(ctx, q)
	switch {
	case err != nil:
		c.Detail = fmt.Sprintf("%s: %s", host, oneLine(err))
	case resp.Rcode == mdns.RcodeServerFailure:
		c.Detail = host + ": SERVFAIL"
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("%s: %s, %d answers", host, mdns.RcodeToString[resp.Rcode], len(resp.Answer))
	}
	return c
}
