package auth

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name, pw, want string
	}{
		{"ok", "correct horse", ""},
		{"eight characters", "abcdefgh", ""},
		{"eight runes, more bytes", "äöüßéèàç", ""},
		{"too short", "abcdefg", "too short"},
		{"empty", "", "too short"},
		{"longer than bcrypt reads", strings.Repeat("x", 73), "too long"},
		{"not UTF-8", "abcdefgh\xff", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.pw)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("CheckPassword = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPasswordLogin(t *testing.T) {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	token, _, err := s.AddUser(ctx, "alice", []string{"dev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoginWithPassword(ctx, "alice", "correct horse", pub, "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
		t.Fatalf("password login before a password is set: %v, want ErrInvalidLogin", err)
	}
	if _, _, err := s.LoginWithToken(ctx, "alice", token, "short", pub, "192.0.2.1"); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("token login with a weak new password: %v, want too short", err)
	}
	// The weak password did not spend the token.
	cert, id, err := s.LoginWithToken(ctx, "alice", token, "correct horse", pub, "192.0.2.1")
	if err != nil {
		t.Fatalf("token login setting a password: %v", err)
	}
	if id.User != "alice" || len(id.Roles) != 1 || id.Roles[0] != "dev" {
		t.Fatalf("identity = %+v", id)
	}
	if ttl := time.Until(parseCert(t, cert).NotAfter); ttl > DefaultCertTTL || ttl < DefaultCertTTL-time.Hour {
		t.Errorf("certificate valid for %v, want about %v", ttl, DefaultCertTTL)
	}
	u, err := s.GetUser(ctx, "alice")
	if err != nil || len(u.PasswordHash) == 0 || strings.Contains(string(u.PasswordHash), "correct horse") {
		t.Fatalf("stored user = %+v, %v; want a bcrypt hash", u, err)
	}
	for _, tc := range []struct {
		name, user, pw string
		want           error
	}{
		{"right password", "alice", "correct horse", nil},
		{"wrong password", "alice", "wrong horse!", ErrInvalidLogin},
		{"unknown user", "mallory", "correct horse", ErrInvalidLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, id, err := s.LoginWithPassword(ctx, tc.user, tc.pw, pub, "192.0.2.1")
			if !errors.Is(err, tc.want) || (err == nil && id.User != tc.user) {
				t.Fatalf("LoginWithPassword = %+v, %v; want %v", id, err, tc.want)
			}
		})
	}
}

func TestLoginRateLimit(t *testing.T) {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	for _, name := range []string{"alice", "bob"} {
		token, _, err := s.AddUser(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.LoginWithToken(ctx, name, token, "correct horse", pub, ""); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, pw, addr string) error {
		_, _, err := s.LoginWithPassword(ctx, user, pw, pub, addr)
		return err
	}
	for i := 0; i < maxUserFailures; i++ {
		if err := login("alice", "wrong horse!", "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
			t.Fatalf("failure %d: %v", i, err)
		}
		now = now.Add(time.Second)
	}
	// The first failure was maxUserFailures seconds ago.
	want := fmt.Sprintf("too many failed logins, try again in %d s", int((loginWindow - maxUserFailures*time.Second).Seconds()))
	if err := login("alice", "correct horse", "192.0.2.2"); !errors.Is(err, ErrTooManyLogins) || err.Error() != want {
		t.Fatalf("right password after %d failures: %v; want %q", maxUserFailures, err, want)
	}
	if err := login("bob", "correct horse", "192.0.2.1"); err != nil {
		t.Fatalf("another user from the same address: %v", err)
	}
	now = now.Add(loginWindow)
	if err := login("alice", "correct horse", "192.0.2.2"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// Per address: many names from one address.
	for i := 0; i < maxAddrFailures; i++ {
		_ = login("user"+string(rune('a'+i)), "x", "192.0.2.9")
	}
	if err := login("bob", "correct horse", "192.0.2.9"); !errors.Is(err, ErrTooManyLogins) {
		t.Fatalf("address after %d failures: %v, want too many failed logins", maxAddrFailures, err)
	}
	if err := login("bob", "correct horse", "192.0.2.10"); err != nil {
		t.Fatalf("same user from another address: %v", err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLoginLimiter()
	now := time.Now()
	for i := 0; i < maxLimiterKeys*2; i++ {
		l.failed(now, "u"+strings.Repeat("x", i%7)+string(rune(i)), "")
	}
	if n := len(l.fails); n > maxLimiterKeys {
		t.Fatalf("limiter holds %d keys, bound %d", n, maxLimiterKeys)
	}
}
