package trust_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/testkit"
)

// leafCert is the certificate the leaf n holds at root.test, as stored.
func leafCert(t *testing.T, n *node) *x509.Certificate {
	t.Helper()
	data, err := n.d.Store().Get(ctxFor(t), "/trust/identity/root.test")
	if err != nil {
		t.Fatal(err)
	}
	var id struct {
		CertPEM []byte `json:"cert_pem"`
	}
	if err := json.Unmarshal(data, &id); err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(id.CertPEM)
	if block == nil {
		t.Fatal("stored leaf identity has no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startTrust runs a root whose machine certificates live ttl (0: the
// default) and a leaf joined to it with one app alice reaches.
func startTrust(t *testing.T, ttl time.Duration) (root *clustertest.Cluster, leaf *node, alice *watcher, dial func() (string, error)) {
	rootCfg := clustertest.Config(t, "root.test", "proxy.root.test")
	rootCfg.Proxy.AgentHeartbeat = heartbeat
	rootCfg.Auth.MachineCertTTL = ttl
	root = clustertest.StartConfig(t, rootCfg)
	rootAdmin := api.NewClusterClient(testkit.Dial(t, root.Admin(t)))
	create(t, rootAdmin, "kind: vnet_config\nversion: v1\nmetadata: {name: vnet-config}\nspec: {ipv4_cidr_range: 100.64.0.0/16}\n")
	alicep := root.AddUser(t, "alice", "dev")

	leafCfg := clustertest.Config(t, "leaf.test", "proxy.leaf.test",
		clustertest.App{Name: "leaf-app", URI: "tcp://" + clustertest.GreeterServer(t, "leaf"), Labels: map[string]string{"env": "dev"}})
	leafCfg.Proxy.AgentHeartbeat = heartbeat
	leaf = startNode(t, leafCfg)
	leafAdmin := leaf.admin(t)
	create(t, leafAdmin, "kind: role\nversion: v1\nmetadata: {name: leaf-dev}\nspec: {allow: {app_labels: {env: dev}}}\n")
	create(t, leafAdmin, trustedCluster(root, joinToken(t, root, ""), "    - remote: dev\n      local: [leaf-dev]\n"))
	alice = watch(t, alicep)
	alice.waitFor(t, "leaf-app in leaf.test", hasLeafApps("leaf.test", "leaf-app"))
	return root, leaf, alice, func() (string, error) { return dialLeaf(t, alicep, "leaf.test", "leaf-app") }
}

// TestLeafCertLivesADayAtMost: a leaf's certificate at its root, with the
// root's defaults, is valid for 24 hours at most (it used to be a year).
func TestLeafCertLivesADayAtMost(t *testing.T) {
	_, leaf, _, _ := startTrust(t, 0)
	cert := leafCert(t, leaf)
	if life := cert.NotAfter.Sub(cert.NotBefore); life > 24*time.Hour+time.Minute { // NotBefore is a minute early
		t.Errorf("leaf certificate valid for %v, want at most 24h", life)
	}
}

// TestLeafRenewsItsCertificate: with a certificate of seconds, the leaf
// renews it at its root before it ends (a new key, the same leaf record),
// stores it, and root users reach its apps after the first certificate has
// ended. Once the root removes the leaf's trust, the renewed certificate is
// refused like the first.
func TestLeafRenewsItsCertificate(t *testing.T) {
	root, leaf, _, dial := startTrust(t, 15*time.Second)
	first := leafCert(t, leaf)

	testkit.Eventually(t, "the first certificate to end", func() bool { return time.Now().After(first.NotAfter) })
	var got string
	testkit.Eventually(t, "a dial into the leaf after its first certificate ended", func() bool {
		var err error
		got, err = dial()
		return err == nil
	})
	if got != "leaf" {
		t.Fatalf("dial = %q", got)
	}
	now := leafCert(t, leaf)
	if !now.NotAfter.After(first.NotAfter) {
		t.Fatalf("stored certificate ends %v, the first one %v: not renewed", now.NotAfter, first.NotAfter)
	}
	if now.Subject.CommonName != first.Subject.CommonName || now.Subject.SerialNumber != first.Subject.SerialNumber || now.Subject.SerialNumber == "" {
		t.Errorf("renewed certificate is %q gen %q, want %q gen %q", now.Subject.CommonName, now.Subject.SerialNumber, first.Subject.CommonName, first.Subject.SerialNumber)
	}
	if string(now.RawSubjectPublicKeyInfo) == string(first.RawSubjectPublicKeyInfo) {
		t.Error("renewed certificate has the old key")
	}

	rootAdmin := api.NewClusterClient(testkit.Dial(t, root.Admin(t)))
	if _, err := rootAdmin.DeleteResource(ctxFor(t), &api.DeleteResourceRequest{Kind: "remote_cluster", Name: "leaf.test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := root.Daemon.Auth().AuthenticateMachine(ctxFor(t), []*x509.Certificate{now}, auth.RoleLeaf); !errors.Is(err, auth.ErrAccessDenied) {
		t.Errorf("renewed certificate of a removed leaf: %v, want access denied", err)
	}
}
