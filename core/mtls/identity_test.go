package mtls

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSaveLoad: an identity comes back as saved, and a laptop profile's
// extra fields in the same folder do not stop it loading (an agent's
// folder written before mtls existed holds them).
func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "id")
	id := &Identity{ProxyAddr: "proxy.test:3080", ClusterName: "root.test", User: "agent:a1", CertPEM: []byte("c"), KeyPEM: []byte("k"), CAPEM: []byte("ca")}
	if err := Save(dir, id); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ProxyAddr != id.ProxyAddr || got.ClusterName != id.ClusterName || got.User != id.User ||
		!bytes.Equal(got.CertPEM, id.CertPEM) || !bytes.Equal(got.KeyPEM, id.KeyPEM) || !bytes.Equal(got.CAPEM, id.CAPEM) {
		t.Fatalf("loaded %+v, saved %+v", got, id)
	}
	old := "proxy_addr: proxy.test:3080\ncluster_name: root.test\nuser: agent:a1\nroles: [x]\nfirst_login: 2026-01-02T03:04:05Z\n"
	if err := os.WriteFile(filepath.Join(dir, MetaFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dir); err != nil || got.User != "agent:a1" {
		t.Fatalf("profile-shaped folder: %+v, %v", got, err)
	}
}
