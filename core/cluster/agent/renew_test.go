package agent_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/agent"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/store/etcdtest"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/testkit"
)

// machineTTL is the short machine certificate lifetime of the renewal
// tests: long enough that a renewal at two thirds of it has seconds to
// spare on a busy machine.
const machineTTL = 15 * time.Second

func startClusterTTL(t *testing.T, ttl time.Duration) *clustertest.Cluster {
	cfg := clustertest.Config(t, "root.test", "proxy.root.test")
	cfg.Proxy.AgentHeartbeat = heartbeat
	cfg.Auth.MachineCertTTL = ttl
	return clustertest.StartConfig(t, cfg)
}

// agentFile is the agent.yaml of a new agent of c with a fresh token.
func agentFile(t *testing.T, c *clustertest.Cluster, apps ...clustertest.App) *agent.File {
	t.Helper()
	token, _, err := c.Daemon.Auth().AddJoinToken(ctxFor(t), auth.TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f := &agent.File{
		ProxyAddr: c.Addr, JoinToken: token, CAPin: c.Daemon.Auth().CA().Pin(), DataDir: t.TempDir(),
		Apps: config.AppService{Enabled: true, Apps: apps},
	}
	if err := f.CheckAndSetDefaults(); err != nil {
		t.Fatal(err)
	}
	return f
}

func certOf(t *testing.T, p *mtls.Identity) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p.CertPEM)
	if block == nil {
		t.Fatal("no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func savedIdentity(t *testing.T, f *agent.File) *mtls.Identity {
	t.Helper()
	p, err := mtls.Load(f.IdentityDir())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgentCertLivesADayAtMost: an agent's certificate, with the
// cluster's defaults, is valid for 24 hours at most (it used to be a
// year).
func TestAgentCertLivesADayAtMost(t *testing.T) {
	c := startCluster(t)
	f := agentFile(t, c)
	id, err := agent.LoadOrJoin(ctxFor(t), f)
	if err != nil {
		t.Fatal(err)
	}
	cert := certOf(t, id)
	// NotBefore is a minute early for clock skew.
	if life := cert.NotAfter.Sub(cert.NotBefore); life > 24*time.Hour+time.Minute {
		t.Errorf("agent certificate valid for %v, want at most 24h", life)
	}
	if life := time.Until(cert.NotAfter); life > 24*time.Hour {
		t.Errorf("agent certificate valid for %v more, want at most 24h", life)
	}
}

// TestAgentRenewsItsCertificate: with a certificate of seconds, an agent
// renews it before it ends (a new key, the same agent record), saves it in
// its data_dir, and its app stays reachable after the first certificate
// has ended: the proxy refuses an expired certificate, so only a renewed
// one serves the dials.
func TestAgentRenewsItsCertificate(t *testing.T) {
	c := startClusterTTL(t, machineTTL)
	f := agentFile(t, c, app("renewed", greeter(t, "still here"), "renewed.company.test"))
	ra := runAgent(t, f, agentOptions{})
	first := certOf(t, savedIdentity(t, f))
	u := newUser(t, c, c.Addr)
	testkit.Eventually(t, "renewed listed", func() bool { _, ok := u.apps(t)["renewed"]; return ok })

	testkit.Eventually(t, "the first certificate to end", func() bool { return time.Now().After(first.NotAfter) })
	var got string
	testkit.Eventually(t, "a dial after the first certificate ended", func() bool {
		var err error
		got, err = u.read(t, "renewed")
		return err == nil
	})
	if got != "still here" {
		t.Fatalf("read = %q", got)
	}
	now := certOf(t, savedIdentity(t, f))
	if !now.NotAfter.After(first.NotAfter) {
		t.Fatalf("saved certificate ends %v, the first one %v: not renewed", now.NotAfter, first.NotAfter)
	}
	if now.Subject.CommonName != first.Subject.CommonName || now.Subject.SerialNumber != first.Subject.SerialNumber {
		t.Errorf("renewed certificate is %q gen %q, want %q gen %q", now.Subject.CommonName, now.Subject.SerialNumber, first.Subject.CommonName, first.Subject.SerialNumber)
	}
	if now.NotAfter.Sub(now.NotBefore) > machineTTL+time.Minute {
		t.Errorf("renewed certificate lives %v, want %v", now.NotAfter.Sub(now.NotBefore), machineTTL)
	}
	if string(now.RawSubjectPublicKeyInfo) == string(first.RawSubjectPublicKeyInfo) {
		t.Error("renewed certificate has the old key")
	}
	if _, err := c.Daemon.Auth().AuthenticateMachine(ctxFor(t), []*x509.Certificate{now}, auth.RoleAgent); err != nil {
		t.Errorf("renewed certificate refused: %v", err)
	}
	ra.stop()
}

// TestRenewedCertOfRemovedAgentIsRefused: a renewed certificate is bound to
// the agent's record like the first: once the agent is removed, neither
// works, and neither can be renewed again, even after a re-join.
func TestRenewedCertOfRemovedAgentIsRefused(t *testing.T) {
	c := startCluster(t)
	f := agentFile(t, c)
	id, err := agent.LoadOrJoin(ctxFor(t), f)
	if err != nil {
		t.Fatal(err)
	}
	renew := func(p *mtls.Identity) (*mtls.Identity, error) {
		key, err := mtls.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		res, err := api.NewAgentClient(testkit.Dial(t, p)).Renew(ctxFor(t), &api.RenewRequest{PublicKey: key.PubDER})
		if err != nil {
			return nil, err
		}
		next := *p
		next.CertPEM, next.KeyPEM = res.GetCertificatePem(), key.PEM
		return &next, nil
	}
	renewed, err := renew(id)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if got, want := certOf(t, renewed).Subject.SerialNumber, certOf(t, id).Subject.SerialNumber; got != want || got == "" {
		t.Fatalf("renewed certificate's generation %q, want the record's %q", got, want)
	}
	// A user's certificate renews nothing.
	if _, err := renew(c.Admin(t).Identity()); status.Code(err) != codes.PermissionDenied {
		t.Errorf("renewal with the admin's certificate: %v, want PermissionDenied", err)
	}

	agentID := strings.TrimPrefix(id.User, auth.AgentUserPrefix)
	if err := c.Daemon.Auth().RemoveAgent(ctxFor(t), agentID); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]*mtls.Identity{"first": id, "renewed": renewed} {
		if _, err := c.Daemon.Auth().AuthenticateMachine(ctxFor(t), []*x509.Certificate{certOf(t, p)}, auth.RoleAgent); !errors.Is(err, auth.ErrAccessDenied) {
			t.Errorf("%s certificate of a removed agent: %v, want access denied", name, err)
		}
		if _, err := renew(p); status.Code(err) != codes.PermissionDenied {
			t.Errorf("renewal with the %s certificate of a removed agent: %v, want PermissionDenied", name, err)
		}
	}
}

// TestExpiredAgentMustJoinAgain: an agent whose certificate ended while it
// was offline cannot renew it; it stops with one line that says to join
// again with a new token, at start and if it is already running.
func TestExpiredAgentMustJoinAgain(t *testing.T) {
	c := startClusterTTL(t, 5*time.Second)
	f := agentFile(t, c)
	id, err := agent.LoadOrJoin(ctxFor(t), f)
	if err != nil {
		t.Fatal(err)
	}
	end := certOf(t, id).NotAfter
	testkit.Eventually(t, "the certificate to end", func() bool { return time.Now().After(end) })

	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, agent.ErrIdentityExpired) {
			t.Fatalf("%s: %v, want ErrIdentityExpired", what, err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, "join again") || !strings.Contains(msg, "new join_token") || !strings.Contains(msg, f.IdentityDir()) {
			t.Errorf("%s: %q, want one line saying to remove %s and join again with a new token", what, msg, f.IdentityDir())
		}
	}
	_, err = agent.LoadOrJoin(ctxFor(t), f)
	check("start with an expired identity", err)

	a, err := agent.New(agent.Config{Identity: id, IdentityDir: f.IdentityDir(), Logger: clustertest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	// The bound only keeps a broken agent (one that retries for ever)
	// from hanging the test: Run must return the error.
	ctx, cancel := context.WithTimeout(ctxFor(t), time.Minute)
	defer cancel()
	check("run with an expired identity", a.Run(ctx))
}

// TestTwoProxiesRenewTheirPeerIdentity: with machine certificates of
// seconds, a dial through proxy A of an app whose agent is connected to B
// still works after A's first peer certificate (and the agent's first
// certificate) has ended: A renewed its peer identity and dials B with it.
func TestTwoProxiesRenewTheirPeerIdentity(t *testing.T) {
	url := etcdtest.Start(t)
	start := func() *clustertest.Cluster {
		cfg := clustertest.Config(t, "root.test", "proxy.root.test")
		cfg.Storage = config.Storage{Type: config.StorageEtcd, Peers: []string{url}, Prefix: "/ha/"}
		cfg.Proxy.AgentHeartbeat = heartbeat
		cfg.Auth.MachineCertTTL = machineTTL
		return clustertest.StartConfig(t, cfg)
	}
	a := start()
	b := start()
	// Every certificate the proxies issued so far ends by then.
	firstEnd := time.Now().Add(machineTTL)
	startAgent(t, b, b.Addr, app("far", greeter(t, "far away"), "far.company.test"))
	viaA := newUser(t, a, a.Addr)
	testkit.Eventually(t, "far listed through A", func() bool { return viaA.apps(t)["far"] == "far.company.test" })
	if got, err := viaA.read(t, "far"); err != nil || got != "far away" {
		t.Fatalf("dial through A of an app behind B = %q, %v", got, err)
	}
	testkit.Eventually(t, "the first peer certificates to end", func() bool { return time.Now().After(firstEnd) })
	var got string
	testkit.Eventually(t, "a dial through A after the first peer certificate ended", func() bool {
		var err error
		got, err = viaA.read(t, "far")
		return err == nil
	})
	if got != "far away" {
		t.Fatalf("read = %q", got)
	}
}
