package auth

import (
	"errors"
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
