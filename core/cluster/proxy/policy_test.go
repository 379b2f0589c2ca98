package proxy_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/proxy"
	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/testkit"
)

// registeredMethods is every method the real proxy's gRPC server serves,
// by full name, with whether it streams.
func registeredMethods(t *testing.T, c *clustertest.Cluster) map[string]grpc.MethodInfo {
	t.Helper()
	out := map[string]grpc.MethodInfo{}
	for svc, info := range c.Daemon.Proxy().ServiceInfo() {
		for _, m := range info.Methods {
			out["/"+svc+"/"+m.Name] = m
		}
	}
	// Not vacuous: the six services the proxy registers are there.
	for _, svc := range []string{"Auth", "Cluster", "Tunnel", "Agent", "Peer", "Trust"} {
		if _, ok := c.Daemon.Proxy().ServiceInfo()["vnet.v1."+svc]; !ok {
			t.Fatalf("the proxy does not serve vnet.v1.%s", svc)
		}
	}
	return out
}

// TestEveryMethodHasAPolicy: every method of every service the real
// proxy serves has an entry in the one policy table, so a method added
// without deciding who may call it fails here (and is refused at run time).
func TestEveryMethodHasAPolicy(t *testing.T) {
	c := startCluster(t)
	methods := registeredMethods(t, c)
	for _, m := range slices.Sorted(maps.Keys(methods)) {
		p, ok := proxy.PolicyOf(m)
		if !ok {
			t.Errorf("%s has no access policy: add it to policies in core/cluster/proxy/policy.go", m)
			continue
		}
		t.Logf("%s: %s", m, p)
	}
	// And nothing else: an entry for a method the proxy no longer serves
	// would hide a rename.
	for _, m := range proxy.PolicyMethods() {
		if _, ok := methods[m]; !ok {
			t.Errorf("the policy table names %s, which the proxy does not serve", m)
		}
	}
}

// TestMethodWithoutPolicyIsDenied: deny by default. A call of a method
// the table does not name is refused even for the administrator, whose
// certificate passes for a method that has a policy.
func TestMethodWithoutPolicyIsDenied(t *testing.T) {
	c := startCluster(t)
	admin := c.Admin(t)
	block, _ := pem.Decode(admin.CertPEM)
	if block == nil {
		t.Fatal("admin certificate: no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pctx := peer.NewContext(ctx(t), &peer.Peer{
		Addr:     &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000},
		AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}},
	})
	p := c.Daemon.Proxy()
	if err := p.Authenticate(pctx, api.Cluster_Status_FullMethodName); err != nil {
		t.Fatalf("admin calling Status: %v, want allowed", err)
	}
	for _, m := range []string{"/vnet.v1.Cluster/NotInTheTable", "/vnet.v1.Debug/Dump", ""} {
		err := p.Authenticate(pctx, m)
		msg := status.Convert(err).Message()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(msg, "no access policy") || strings.Contains(msg, "\n") {
			t.Errorf("admin calling %q: %v; want one-line PermissionDenied saying it has no access policy", m, err)
		}
	}
}

// callerKind is one kind of caller of the policy matrix.
type callerKind string

const (
	noCert    callerKind = "no certificate"
	userCert  callerKind = "user"
	adminCert callerKind = "admin"
	agentCert callerKind = "agent"
	leafCert  callerKind = "leaf cluster"
	proxyCert callerKind = "peer proxy"
	// Machines whose record was removed: their certificates are still
	// signed by the CA and unexpired, and let through public calls only.
	removedAgent callerKind = "removed agent"
	removedLeaf  callerKind = "removed leaf cluster"
)

var allCallers = []callerKind{noCert, userCert, adminCert, agentCert, leafCert, proxyCert, removedAgent, removedLeaf}

// wantAllowed is who may call each method, written out here on its own
// (not read from the proxy's table) so that a change of the table that
// widens or narrows access fails this test.
var wantAllowed = map[string][]callerKind{
	api.Auth_Ping_FullMethodName:  allCallers,
	api.Auth_Login_FullMethodName: allCallers,

	api.Cluster_GetVNetConfig_FullMethodName: {userCert, adminCert},
	api.Cluster_ListApps_FullMethodName:      {userCert, adminCert},
	api.Cluster_WatchCatalog_FullMethodName:  {userCert, adminCert},
	api.Tunnel_Dial_FullMethodName:           {userCert, adminCert},

	api.Cluster_CreateResource_FullMethodName: {adminCert},
	api.Cluster_GetResources_FullMethodName:   {adminCert},
	api.Cluster_DeleteResource_FullMethodName: {adminCert},
	api.Cluster_AddUser_FullMethodName:        {adminCert},
	api.Cluster_Status_FullMethodName:         {adminCert},
	api.Cluster_SearchAudit_FullMethodName:    {adminCert},
	api.Cluster_AddToken_FullMethodName:       {adminCert},
	api.Cluster_ListTokens_FullMethodName:     {adminCert},
	api.Cluster_ListAgents_FullMethodName:     {adminCert},
	api.Cluster_RemoveAgent_FullMethodName:    {adminCert},

	api.Agent_Join_FullMethodName:    allCallers,
	api.Agent_Control_FullMethodName: {agentCert},
	api.Agent_Connect_FullMethodName: {agentCert, leafCert},
	api.Agent_Renew_FullMethodName:   {agentCert},

	api.Peer_Dial_FullMethodName: {proxyCert},

	api.Trust_Join_FullMethodName:    allCallers,
	api.Trust_Control_FullMethodName: {leafCert},
	api.Trust_Renew_FullMethodName:   {leafCert},
}

// machineProfile is a profile holding a machine's certificate certPEM
// for key.
func machineProfile(c *clustertest.Cluster, name string, key *mtls.Key, certPEM []byte) *profile.Profile {
	return &profile.Profile{
		ProxyAddr: c.Addr, ClusterName: "root.test", User: name,
		CertPEM: certPEM, KeyPEM: key.PEM, CAPEM: c.Daemon.Auth().CA().CertPEM,
	}
}

// callers returns a connection to the real proxy for each kind of caller,
// each holding a real certificate of its kind.
func callers(t *testing.T, c *clustertest.Cluster) map[callerKind]*grpc.ClientConn {
	t.Helper()
	a := c.Daemon.Auth()
	alice := c.AddUser(t, "alice", "dev")
	none := *alice
	none.CertPEM, none.KeyPEM = nil, nil

	agent, agentID := joinAgent(t, c)
	gone, goneID := joinAgent(t, c)
	if err := a.RemoveAgent(ctx(t), goneID); err != nil {
		t.Fatal(err)
	}
	leaf := joinLeaf(t, c, "leaf.test")
	goneLeaf := joinLeaf(t, c, "gone.test")
	if err := a.RemoveLeaf(ctx(t), "gone.test"); err != nil {
		t.Fatal(err)
	}
	t.Logf("agent %s, removed agent %s", agentID, goneID)

	proxyKey, err := mtls.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	proxyPEM, err := a.CA().IssueProxy(proxyKey.Public, "other-proxy", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	return map[callerKind]*grpc.ClientConn{
		noCert:       testkit.Dial(t, &none),
		userCert:     testkit.Dial(t, alice),
		adminCert:    testkit.Dial(t, c.Admin(t)),
		agentCert:    testkit.Dial(t, agent),
		leafCert:     testkit.Dial(t, leaf),
		proxyCert:    testkit.Dial(t, machineProfile(c, auth.ProxyUserPrefix+"other-proxy", proxyKey, proxyPEM)),
		removedAgent: testkit.Dial(t, gone),
		removedLeaf:  testkit.Dial(t, goneLeaf),
	}
}

// sameKind reports whether who is a removed machine of a kind allowed
// admits: refused for its record, not for its kind.
func sameKind(who callerKind, allowed []callerKind) bool {
	switch who {
	case removedAgent:
		return slices.Contains(allowed, agentCert)
	case removedLeaf:
		return slices.Contains(allowed, leafCert)
	}
	return false
}

// joinAgent joins an agent with a token, as 'vnet-agent' does, and
// returns its profile and ID.
func joinAgent(t *testing.T, c *clustertest.Cluster) (*profile.Profile, string) {
	t.Helper()
	key, err := mtls.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := c.Daemon.Auth().AddJoinToken(ctx(t), auth.TokenTypeApp, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, ag, err := c.Daemon.Auth().JoinAgent(ctx(t), token, "agent-host", key.PubDER)
	if err != nil {
		t.Fatal(err)
	}
	return machineProfile(c, auth.AgentUserPrefix+ag.ID, key, cert), ag.ID
}

// joinLeaf joins a leaf cluster called name with a token and returns the
// profile of its certificate.
func joinLeaf(t *testing.T, c *clustertest.Cluster, name string) *profile.Profile {
	t.Helper()
	key, err := mtls.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := c.Daemon.Auth().AddJoinToken(ctx(t), auth.TokenTypeTrustedCluster, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Daemon.Auth().JoinLeaf(ctx(t), token, name, key.PubDER)
	if err != nil {
		t.Fatal(err)
	}
	return machineProfile(c, auth.LeafUserPrefix+name, key, cert)
}

// call makes one call of method with an empty request (a stream: closed
// at once) and returns how it ended. Empty requests make every handler
// that is let through end at once without changing anything.
func call(ctx context.Context, conn *grpc.ClientConn, method string, info grpc.MethodInfo) error {
	if !info.IsClientStream && !info.IsServerStream {
		return conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method)
	if err != nil {
		return err
	}
	// A refusal can end the stream before we have sent: SendMsg then says
	// io.EOF, and the status comes with RecvMsg (grpc.ClientStream).
	if !info.IsClientStream {
		if err := st.SendMsg(&emptypb.Empty{}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	if err := st.CloseSend(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return st.RecvMsg(&emptypb.Empty{})
}

// refusedByPolicy reports whether err is the interceptor's refusal: no
// certificate, or a certificate of a kind (or a user without the role)
// the method's policy does not admit. Calls let through end in their
// handler's own answer (success, InvalidArgument, EOF, ...).
func refusedByPolicy(err error) bool {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unauthenticated:
		return strings.Contains(st.Message(), "no client certificate")
	case codes.PermissionDenied:
		return strings.Contains(st.Message(), auth.ErrAccessDenied.Error())
	}
	return false
}

// TestPolicyMatrix calls every method the real proxy serves as every kind
// of caller and checks that exactly the callers its policy names get
// through, and that the others get a one-line refusal that says why.
func TestPolicyMatrix(t *testing.T) {
	c := startCluster(t)
	methods := registeredMethods(t, c)
	conns := callers(t, c)
	for _, m := range slices.Sorted(maps.Keys(methods)) {
		allowed, ok := wantAllowed[m]
		if !ok {
			t.Errorf("%s: not in this test's matrix: say who may call it in wantAllowed", m)
			continue
		}
		for _, who := range allCallers {
			t.Run(strings.TrimPrefix(m, "/vnet.v1.")+"/"+string(who), func(t *testing.T) {
				cctx, cancel := context.WithTimeout(ctx(t), 10*time.Second)
				defer cancel()
				err := call(cctx, conns[who], m, methods[m])
				msg := status.Convert(err).Message()
				switch want := slices.Contains(allowed, who); {
				case want && refusedByPolicy(err):
					t.Fatalf("refused: %v; want the call let through", err)
				case !want && !refusedByPolicy(err):
					t.Fatalf("got %v; want a refusal by policy (PermissionDenied saying %q, or Unauthenticated without a certificate)", err, auth.ErrAccessDenied)
				case !want && strings.Contains(msg, "\n"):
					t.Fatalf("refusal %q is not one line", msg)
				case !want && sameKind(who, allowed) && !strings.Contains(msg, "removed"):
					t.Fatalf("refusal %q of a removed machine does not say it was removed", msg)
				case !want && who != noCert && !(who == userCert && slices.Contains(allowed, adminCert)) && !sameKind(who, allowed) && !strings.Contains(msg, m):
					// A certificate of the wrong kind (not a user without
					// the admin role): the message says which call takes
					// which certificate.
					t.Fatalf("refusal %q does not name the call %s", msg, m)
				}
				t.Logf("%v", err)
			})
		}
	}
}
