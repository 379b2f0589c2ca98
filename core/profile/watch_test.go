package profile_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/profile/profiletest"
	"github.com/vnetproject/vnet/core/testkit"
)

// recorder keeps what Watch reported.
type recorder struct {
	mu    sync.Mutex
	calls [][]string // proxy addresses per call
}

func (r *recorder) changed(ps []*profile.Profile) {
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
	testkit.Eventually(t, "Watch to report "+what, func() bool { return r.n() > 0 && ok(r.last()) })
}

func TestWatchFollowsLoginReloginLogout(t *testing.T) {
	home := t.TempDir()
	a := profiletest.SelfSigned(t, "a.test:3080", time.Now().Add(time.Hour))
	if err := profile.Save(home, a); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); profile.Watch(ctx, home, 5*time.Millisecond, nil, r.changed) }()
	defer func() { cancel(); <-done }()

	waitFor(t, r, "a", func(got []string) bool { return len(got) == 1 })
	// Nothing changes: no report.
	n := r.n()
	time.Sleep(50 * time.Millisecond)
	if r.n() != n {
		t.Fatalf("Watch reported %d times with nothing changed", r.n()-n)
	}

	b := profiletest.SelfSigned(t, "b.test:3080", time.Now().Add(time.Hour))
	if err := profile.Save(home, b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the login to b", func(got []string) bool { return len(got) == 2 })

	// A re-login: a new certificate for a.
	a2 := profiletest.SelfSigned(t, "a.test:3080", time.Now().Add(2*time.Hour))
	if err := profile.Save(home, a2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the re-login to a", func(got []string) bool { return got[0] == "a.test:3080@"+string(a2.CertPEM[40:60]) })

	if err := profile.Remove(home, "b.test:3080"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the logout of b", func(got []string) bool { return len(got) == 1 && got[0][:2] == "a." })
}

func TestWatchKeepsTheLastWholeProfile(t *testing.T) {
	home := t.TempDir()
	a := profiletest.SelfSigned(t, "a.test:3080", time.Now().Add(time.Hour))
	if err := profile.Save(home, a); err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		profile.Watch(ctx, home, 5*time.Millisecond, slog.New(slog.DiscardHandler), r.changed)
	}()
	defer func() { cancel(); <-done }()
	waitFor(t, r, "a", func(got []string) bool { return len(got) == 1 })

	// Half a re-login: the new certificate beside the old key. Watch
	// looks at it many times and keeps reporting nothing new.
	a2 := profiletest.SelfSigned(t, "a.test:3080", time.Now().Add(2*time.Hour))
	if err := os.WriteFile(filepath.Join(profile.Dir(home, a.ProxyAddr), "cert.pem"), a2.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	n := r.n()
	time.Sleep(100 * time.Millisecond)
	if r.n() != n {
		t.Fatalf("a half-written profile was reported: %v", r.last())
	}
	if err := profile.Save(home, a2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, r, "the whole re-login", func(got []string) bool { return got[0] == "a.test:3080@"+string(a2.CertPEM[40:60]) })
}

func TestRemoveUnknownProfile(t *testing.T) {
	if err := profile.Remove(t.TempDir(), "nowhere.test:3080"); err == nil {
		t.Fatal("Remove of a profile that does not exist succeeded")
	}
}

func TestCheckCert(t *testing.T) {
	p := profiletest.SelfSigned(t, "a.test:3080", time.Now().Add(time.Minute))
	if err := p.CheckCert(time.Now()); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	err := p.CheckCert(time.Now().Add(2 * time.Minute))
	if !errors.Is(err, profile.ErrCertExpired) {
		t.Fatalf("expired certificate: %v", err)
	}
	if want := "run vnet login --proxy=a.test:3080 --user=alice"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}
