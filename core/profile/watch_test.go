package profile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testProfile is a profile for proxy with a self-signed certificate valid
// until notAfter.
func testProfile(t *testing.T, proxy string, notAfter time.Time) *Profile {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alice"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Profile{
		ProxyAddr: proxy, ClusterName: "c", User: "alice",
		CertPEM: certPEM, KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), CAPEM: certPEM,
	}
}

// recorder keeps what Watch reported.
type recorder struct {
	mu    sync.Mutex
	calls [][]string // proxy addresses per call
}

func (r *recorder) changed(ps []*Profile) {
	var addrs []string
	for _, p := range ps {
		addrs = append(addrs, p.ProxyAddr+"@"+string(p.CertPEM[40:60]))
	}
	r.mu.Lock()
	r.calls = append(r.calls, addrs)
	r.mu.Unlock()
}

func (r *recorder) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.calls) }

func (r *recorder) last() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[len(r.calls)-1]
}

// waitFor polls until the last report satisfies ok.
func waitFor(t *testing.T, r *recorder, what string, ok func(last []string) bool) {
	t.Helper()
	for range 400 {
		if r.n() > 0 && ok(r.last()) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("Watch never reported %s; last: %v", what, r.last())
}

func TestWatchFollowsLoginReloginLogout(t *testing.T) {
	home := t.TempDir()
	a := testProfile(t, "a.test:3080", time.Now().Add(time.Hour))
	if err := Save(home, a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); Watch(ctx, home, 5*time.Millisecond, nil, r.changed) }()
	defer func() { cancel(); <-done }()

	waitFor(t, r, "a", func(got []string) bool { return len(got) == 1 })
	// Nothing changes: no report.
	n := r.n()
	time.Sleep(50 * time.Millisecond)
	if r.n() != n {
		t.Fatalf("Watch reported %d times with nothing changed", r.n()-n)
	}

	b := testProfile(t, "b.test:3080", time.Now().Add(time.Hour))
	if err := Save(home, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the login to b", func(got []string) bool { return len(got) == 2 })

	// A re-login: a new certificate for a.
	a2 := testProfile(t, "a.test:3080", time.Now().Add(2*time.Hour))
	if err := Save(home, a2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the re-login to a", func(got []string) bool { return got[0] == "a.test:3080@"+string(a2.CertPEM[40:60]) })

	if err := Remove(home, "b.test:3080"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the logout of b", func(got []string) bool { return len(got) == 1 && got[0][:2] == "a." })
}

func TestWatchKeepsTheLastWholeProfile(t *testing.T) {
	home := t.TempDir()
	a := testProfile(t, "a.test:3080", time.Now().Add(time.Hour))
	if err := Save(home, a); err != nil {
		t.Fatal(err)
	}
	w := &watcher{home: home, log: slog.New(slog.DiscardHandler), last: map[string]seen{}}
	ps, changed := w.scan()
	if !changed || len(ps) != 1 {
		t.Fatalf("first scan: %d profiles, changed %v", len(ps), changed)
	}
	// Half a re-login: the new certificate beside the old key.
	a2 := testProfile(t, "a.test:3080", time.Now().Add(2*time.Hour))
	if err := os.WriteFile(filepath.Join(Dir(home, a.ProxyAddr), certFile), a2.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ps, changed = w.scan()
	if changed || len(ps) != 1 || string(ps[0].CertPEM) != string(a.CertPEM) {
		t.Fatalf("half-written profile: changed %v, want the old whole one kept", changed)
	}
	if err := Save(home, a2); err != nil {
		t.Fatal(err)
	}
	ps, changed = w.scan()
	if !changed || string(ps[0].CertPEM) != string(a2.CertPEM) {
		t.Fatalf("whole again: changed %v", changed)
	}
}

func TestRemoveUnknownProfile(t *testing.T) {
	if err := Remove(t.TempDir(), "nowhere.test:3080"); err == nil {
		t.Fatal("Remove of a profile that does not exist succeeded")
	}
}

func TestCheckCert(t *testing.T) {
	p := testProfile(t, "a.test:3080", time.Now().Add(time.Minute))
	if err := p.CheckCert(time.Now()); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	err := p.CheckCert(time.Now().Add(2 * time.Minute))
	if !errors.Is(err, ErrCertExpired) {
		t.Fatalf("expired certificate: %v", err)
	}
	if want := "run vnet login --proxy=a.test:3080 --user=alice"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
