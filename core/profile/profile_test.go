package profile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// TestFirstLoginOrder: the first login to a proxy is recorded and kept
// across re-logins, and LoadAll returns profiles in that order, not by
// proxy name: the first login owns contested names.
func TestFirstLoginOrder(t *testing.T) {
	home := t.TempDir()
	save := func(proxy string) *Profile {
		t.Helper()
		p := &Profile{ProxyAddr: proxy, ClusterName: "same.test", User: "alice", CertPEM: []byte("c"), KeyPEM: []byte("k"), CAPEM: []byte("ca")}
		if err := Save(home, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	z := save("z.test:3080")
	time.Sleep(10 * time.Millisecond)
	save("a.test:3080")
	time.Sleep(10 * time.Millisecond)
	again := save("z.test:3080") // a re-login
	if !again.FirstLogin.Equal(z.FirstLogin) || z.FirstLogin.IsZero() {
		t.Fatalf("re-login: first login %v, want the first one %v kept", again.FirstLogin, z.FirstLogin)
	}
	// A profile from before first_login was recorded counts as oldest.
	old := &Profile{ProxyAddr: "m.test:3080", CertPEM: []byte("c"), KeyPEM: []byte("k"), CAPEM: []byte("ca")}
	if err := Save(home, old); err != nil {
		t.Fatal(err)
	}
	old.FirstLogin = time.Time{}
	meta, _ := yaml.Marshal(old)
	if err := os.WriteFile(filepath.Join(Dir(home, old.ProxyAddr), metaFile), meta, 0o600); err != nil {
		t.Fatal(err)
	}
	all, err := LoadAll(home)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range all {
		ids = append(ids, p.ID())
	}
	if want := []string{"m.test:3080", "z.test:3080", "a.test:3080"}; !slices.Equal(ids, want) {
		t.Fatalf("LoadAll order = %v, want %v", ids, want)
	}
}
