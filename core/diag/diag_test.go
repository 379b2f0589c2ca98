package diag

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/dns"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/profile/profiletest"
	"github.com/vnetproject/vnet/core/vnet"
)

var (
	appV4 = netip.MustParseAddr("100.94.1.2")
	appV6 = netip.MustParseAddr("fd00::645e:102")
)

func status(lastErr string) vnet.Status {
	return vnet.Status{
		Running:  true,
		Settings: netcfg.Settings{DNSAddrs: []netip.Addr{netip.MustParseAddr("100.64.0.2")}, DNSZones: []string{"proxy.root.test", "company.test"}},
		Apps:     []vnet.AppStatus{{Cluster: "root.test", Name: "db", PublicAddr: "db.company.test", IPv4: appV4, IPv6: appV6, LastError: lastErr}},
	}
}

// find returns the check whose name starts with prefix.
func find(t *testing.T, d []Check, prefix string) Check {
	t.Helper()
	for _, c := range d {
		if strings.HasPrefix(c.Name, prefix) {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", prefix, d)
	return Check{}
}

func TestName(t *testing.T) {
	resolveTo := func(addrs ...netip.Addr) func(context.Context, string) ([]netip.Addr, error) {
		return func(context.Context, string) ([]netip.Addr, error) { return addrs, nil }
	}
	refused := func(context.Context, netip.AddrPort) error { return syscall.ECONNREFUSED }
	connects := func(context.Context, netip.AddrPort) error { return nil }
	for _, tc := range []struct {
		name    string
		query   string
		env     Env
		lastErr string
		want    map[string]string // check name prefix -> "ok" or a substring of a failing detail
	}{
		{"works", "DB.company.test.", Env{Resolve: resolveTo(appV6, appV4), Dial: connects}, "",
			map[string]string{"domain": "ok", "app": "ok", "system resolver": "ok", "TCP": "ok"}},
		{"outside the zones", "db.other.test", Env{}, "",
			map[string]string{"domain": "custom_dns_zones", "app": "vnet apps"}},
		{"not an app for this user", "secret.company.test", Env{}, "",
			map[string]string{"domain": "ok", "app": "role"}},
		{"another resolver answers", "db.company.test", Env{Resolve: resolveTo(netip.MustParseAddr("192.0.2.9")), Dial: connects}, "",
			map[string]string{"system resolver": "another resolver", "TCP": "ok"}},
		{"refused: the cluster's reason is shown", "db.company.test", Env{Resolve: resolveTo(appV4), Dial: refused}, "access denied: user bob may not reach app db",
			map[string]string{"TCP": "the cluster said: access denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := status(tc.lastErr)
			tc.env.Status = func() vnet.Status { return st }
			checks := Name(context.Background(), tc.env, st, tc.query, 5432)
			for prefix, want := range tc.want {
				c := find(t, checks, prefix)
				if want == "ok" {
					if !c.OK {
						t.Errorf("%s: %s, want ok", c.Name, c.Detail)
					}
				} else if c.OK || !strings.Contains(c.Detail, want) {
					t.Errorf("%s: ok=%v %q, want a failure saying %q", c.Name, c.OK, c.Detail, want)
				}
			}
		})
	}
}

type fetcher struct {
	c   catalog.Cluster
	err error
}

func (f fetcher) Fetch(context.Context) (catalog.Cluster, error) { return f.c, f.err }

func TestRun(t *testing.T) {
	ca, err := auth.LoadOrCreateCA(context.Background(), store.NewMemory(), "root.test")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := mtls.NewKey()
	cert, err := ca.IssueUser(key.Public, auth.Identity{User: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &profile.Profile{ProxyAddr: "proxy.root.test:3080", ClusterName: "root.test", User: "alice", CertPEM: cert}
	up := dns.UpstreamFunc(func(ctx context.Context, q *mdns.Msg) (*mdns.Msg, error) { return nil, errors.New("i/o timeout") })
	env := Env{
		Status:   func() vnet.Status { return status("") },
		Profiles: []*profile.Profile{p},
		Clusters: []Fetcher{fetcher{err: errors.New("rpc error: code = Unavailable desc = connection refused")}},
		Upstream: up,
		Now:      time.Now(),
	}
	d := Run(context.Background(), env, "", 0)
	if c := find(t, d.Checks, "VNet"); !c.OK {
		t.Errorf("VNet: %+v", c)
	}
	if c := find(t, d.Checks, "login to root.test as alice"); !c.OK {
		t.Errorf("login: %+v", c)
	}
	if c := find(t, d.Checks, "cluster at proxy.root.test:3080"); c.OK || c.Detail != "connection refused" {
		t.Errorf("cluster: %+v, want the gRPC framing dropped", c)
	}
	if c := find(t, d.Checks, "upstream DNS"); c.OK || !strings.Contains(c.Detail, "timeout") {
		t.Errorf("upstream: %+v", c)
	}
	env.Now = time.Now().Add(2 * time.Hour)
	if c := find(t, Run(context.Background(), env, "", 0).Checks, "login"); c.OK || !strings.Contains(c.Detail, "vnet login") {
		t.Errorf("expired login: %+v", c)
	}
	if !strings.Contains(d.Text(), "FAIL cluster at proxy.root.test:3080") {
		t.Errorf("Text() =\n%s", d.Text())
	}
	// The certificate is valid here, but the cluster no longer knows the
	// user: the login fails too, never "ok login" beside "FAIL user no
	// longer exists" (issue 14).
	env.Now = time.Now()
	env.Clusters = []Fetcher{fetcher{err: grpcstatus.Error(codes.Unauthenticated, "user alice no longer exists")}}
	d = Run(context.Background(), env, "", 0)
	if c := find(t, d.Checks, "login to root.test as alice"); c.OK || !strings.Contains(c.Detail, "the cluster refuses this login: user alice no longer exists") {
		t.Errorf("login of a removed user: %+v", c)
	}
}

// TestRefusedShown: every refused claim is a failing check that says why,
// and a name of a refused zone or an app without a name says why.
func TestRefusedShown(t *testing.T) {
	st := status("")
	st.Refused = []catalog.Refusal{
		{Cluster: "proxy.bad.test:3084", ClusterName: "bad.test", Kind: catalog.KindZone, Claim: "test", Reason: "test is a public suffix: a cluster may only claim a domain below it"},
		{Cluster: "proxy.bad.test:3084", ClusterName: "bad.test", Kind: catalog.KindRange, Claim: "100.100.0.0/16", Reason: "overlaps 100.64.0.0/10"},
	}
	st.Apps = append(st.Apps, vnet.AppStatus{ClusterID: "proxy.bad.test:3084", Cluster: "bad.test", Name: "bad-app", PublicAddr: "bad-app.test", Unreachable: "its zone test was refused: test is a public suffix"})
	st.Apps = append(st.Apps, vnet.AppStatus{ClusterID: "proxy.root.test:3080", Cluster: "root.test", Name: "my_app", Unreachable: `app name "my_app" is not a DNS label (it contains '_'; use letters, digits and '-'): it needs a public_addr`})
	checks := Refused(st)
	if c := checks[len(checks)-1]; len(checks) != 3 || c.OK || c.Name != "app my_app of root.test" || !strings.Contains(c.Detail, "not a DNS label") {
		t.Fatalf("Refused = %+v, want my_app last", checks)
	}
	if len(checks) != 3 || checks[0].OK || !strings.Contains(checks[0].Detail, "public suffix") || checks[1].Name != "refused range of bad.test" {
		t.Fatalf("Refused = %+v", checks)
	}
	got := Name(context.Background(), Env{}, st, "bad-app.test", 80)
	if c := find(t, got, "domain"); c.OK || !strings.Contains(c.Detail, "zone test of cluster bad.test at proxy.bad.test:3084 was refused") {
		t.Errorf("domain: %+v", c)
	}
	if c := find(t, got, "app"); c.OK || !strings.Contains(c.Detail, "its zone test was refused") {
		t.Errorf("app: %+v", c)
	}
}

// TestCheckTimes: a time in a finding is shown as people read times
// everywhere in vnet (local, to the second) and travels as RFC 3339 in
// JSON, apart from the sentence (issue 14: one time format for people).
func TestCheckTimes(t *testing.T) {
	saved := time.Local
	defer func() { time.Local = saved }()
	time.Local = time.FixedZone("UTC+2", 2*3600)
	exp := time.Date(2026, 12, 7, 5, 30, 0, 0, time.UTC)
	p := profiletest.SelfSigned(t, "proxy.root.test:3080", exp)
	d := Diagnosis{Checks: Profiles([]*profile.Profile{p}, exp.Add(-time.Hour))}
	if got, want := d.Text(), "certificate valid until 2026-12-07 07:30:00\n"; !strings.HasSuffix(got, want) {
		t.Errorf("text %q, want it to end with %q", got, want)
	}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"detail":"certificate valid until","time":"2026-12-07T05:30:00Z"`) {
		t.Errorf("JSON %s: want the time apart, in RFC 3339", data)
	}
	var back Diagnosis
	if err := json.Unmarshal(data, &back); err != nil || back.Text() != d.Text() {
		t.Errorf("through JSON (vnet diag asks the engine so): %q, %v; want %q", back.Text(), err, d.Text())
	}
}
