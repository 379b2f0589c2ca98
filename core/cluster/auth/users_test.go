package auth

import (
	"crypto/x509"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestUserAdministration(t *testing.T) {
	s, ctx := newTestService(t)
	_, pub := newPub(t)
	token, _, err := s.AddUser(ctx, "alice", []string{"dev", "dev", "access"})
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := s.LoginWithToken(ctx, "alice", token, "", pub, "")
	if err != nil {
		t.Fatal(err)
	}
	chain := []*x509.Certificate{parseCert(t, cert)}

	id, err := s.Authenticate(ctx, chain)
	if err != nil || !reflect.DeepEqual(id.Roles, []string{"access", "dev"}) {
		t.Fatalf("Authenticate = %+v, %v; want the sorted roles", id, err)
	}
	if err := s.SetRoles(ctx, "alice", []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Authenticate(ctx, chain); err != nil || !reflect.DeepEqual(id.Roles, []string{"ops"}) {
		t.Fatalf("after SetRoles the old certificate carries %+v, %v; want the stored roles [ops]", id, err)
	}

	// A second user with an unused token.
	if _, _, err := s.AddUser(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	users, err := s.ListUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "alice" || users[1].Name != "bob" {
		t.Fatalf("ListUsers = %+v, %v", users, err)
	}
	if err := s.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if items, _ := s.store.List(ctx, tokensPrefix); len(items) != 0 {
		t.Errorf("bob's sign-up token is still stored: %v", items)
	}
	if err := s.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, chain); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("certificate of a removed user: %v, want ErrUnknownUser", err)
	}

	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"remove unknown", s.RemoveUser(ctx, "nobody"), "not found"},
		{"remove the built-in admin", s.RemoveUser(ctx, BuiltinAdmin), "cannot be removed"},
		{"roles of unknown", s.SetRoles(ctx, "nobody", nil), "not found"},
		{"bad role name", s.SetRoles(ctx, "alice", []string{"Dev"}), `role name "Dev"`},
		{"bad user name", func() error { _, _, err := s.AddUser(ctx, "Bob", nil); return err }(), `user name "Bob"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", tc.err, tc.want)
			}
		})
	}
	if _, err := s.EnsureUser(ctx, BuiltinAdmin, []string{RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRoles(ctx, BuiltinAdmin, []string{"dev"}); err == nil || !strings.Contains(err.Error(), "keeps the admin role") {
		t.Fatalf("dropping admin from the built-in admin: %v", err)
	}
}

// TestUserNamesCannotConfuseUserAtCluster: a new user's name has no '@'
// (a leaf shows a root user as user@cluster), refused in one line; a user
// stored with one before keeps working.
func TestUserNamesCannotConfuseUserAtCluster(t *testing.T) {
	s, ctx := newTestService(t)
	for _, name := range []string{"bob@corp", "bob@root.test", "@bob"} {
		_, _, err := s.AddUser(ctx, name, nil)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "no '@'") && name != "@bob" {
			t.Fatalf("AddUser(%q) = %v; want one line refusing the '@'", name, err)
		}
	}
	if _, err := s.GetUser(ctx, "bob@corp"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("a refused name was stored: %v", err)
	}
	for _, name := range []string{"bob", "bob.smith", "bob_smith-2"} {
		if _, _, err := s.AddUser(ctx, name, nil); err != nil {
			t.Fatalf("AddUser(%q): %v", name, err)
		}
	}
	// A user created before '@' was refused: roles, login and removal work.
	if _, err := s.EnsureUser(ctx, "carol@corp", []string{"dev"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRoles(ctx, "carol@corp", []string{"ops"}); err != nil {
		t.Fatalf("roles of an existing user with '@': %v", err)
	}
	token, _, err := s.newSignupToken(ctx, "carol@corp")
	if err != nil {
		t.Fatal(err)
	}
	_, pub := newPub(t)
	if _, id, err := s.LoginWithToken(ctx, "carol@corp", token, "correct horse", pub, "192.0.2.1"); err != nil || id.User != "carol@corp" {
		t.Fatalf("login of an existing user with '@': %+v, %v", id, err)
	}
	if err := s.RemoveUser(ctx, "carol@corp"); err != nil {
		t.Fatalf("removing an existing user with '@': %v", err)
	}
}
