package auth

import (
	"errors"
	"strings"
	"testing"
)

// TestChangePassword: the current password is needed (unless none is
// set), a wrong one counts as a failed login, and the new one works for
// the next login while the old one does not.
func TestChangePassword(t *testing.T) {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	token, _, err := s.AddUser(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoginWithToken(ctx, "alice", token, "", pub, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	// Signed up without a password: she sets one with no current one.
	if err := s.ChangePassword(ctx, "alice", "", "first password", "192.0.2.1"); err != nil {
		t.Fatalf("first password: %v", err)
	}
	for _, tc := range []struct{ name, old, new, err string }{
		{"no current password", "", "second password", "the current password is wrong"},
		{"wrong current password", "nope nope", "second password", "the current password is wrong"},
		{"too short", "first password", "short", "too short"},
	} {
		if err := s.ChangePassword(ctx, "alice", tc.old, tc.new, "192.0.2.1"); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.err)
		}
	}
	if err := s.ChangePassword(ctx, "alice", "first password", "second password", "192.0.2.1"); err != nil {
		t.Fatalf("change: %v", err)
	}
	if _, _, err := s.LoginWithPassword(ctx, "alice", "first password", pub, "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
		t.Errorf("old password: %v, want ErrInvalidLogin", err)
	}
	if _, _, err := s.LoginWithPassword(ctx, "alice", "second password", pub, "192.0.2.1"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

// TestResetUser: a reset clears the password and gives a token that signs
// the user up again with a new one; the roles stay.
func TestResetUser(t *testing.T) {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	token, _, err := s.AddUser(ctx, "bob", []string{"dev"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoginWithToken(ctx, "bob", token, "forgotten pw", pub, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ResetUser(ctx, "nobody"); !errors.Is(err, ErrNoSuchResource) {
		t.Errorf("reset of an unknown user: %v", err)
	}
	token, _, err = s.ResetUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoginWithPassword(ctx, "bob", "forgotten pw", pub, "192.0.2.1"); !errors.Is(err, ErrInvalidLogin) {
		t.Errorf("the old password after a reset: %v, want ErrInvalidLogin", err)
	}
	_, id, err := s.LoginWithToken(ctx, "bob", token, "a new password", pub, "192.0.2.1")
	if err != nil || len(id.Roles) != 1 || id.Roles[0] != "dev" {
		t.Fatalf("login with the reset token = %+v, %v; want bob with role dev", id, err)
	}
	if _, _, err := s.LoginWithPassword(ctx, "bob", "a new password", pub, "192.0.2.1"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}
