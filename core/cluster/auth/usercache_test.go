package auth

import (
	"errors"
	"reflect"
	"testing"
)

// TestAuthenticateDecodesAUserOnce: streams of one user are authenticated
// against the stored record, decoded once while it does not change; the
// roles a caller gets are its own, and a change or a removal of the user
// applies to the next stream.
func TestAuthenticateDecodesAUserOnce(t *testing.T) {
	s, ctx := newTestService(t)
	chain := loginUser(t, s, ctx, "bob")
	id, err := s.Authenticate(ctx, chain)
	if err != nil || !reflect.DeepEqual(id.Roles, []string{"dev"}) {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}
	first := s.authUsers.decoded["bob"]
	id.Roles[0] = "admin" // the caller's copy
	again, err := s.Authenticate(ctx, chain)
	if err != nil || !reflect.DeepEqual(again.Roles, []string{"dev"}) {
		t.Fatalf("Authenticate after the caller changed its roles = %+v, %v; want [dev]", again, err)
	}
	if cur := s.authUsers.decoded["bob"]; &cur.raw[0] != &first.raw[0] {
		t.Fatal("the unchanged record was decoded again")
	}
	if err := s.SetRoles(ctx, "bob", []string{"ops"}); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Authenticate(ctx, chain); err != nil || !reflect.DeepEqual(id.Roles, []string{"ops"}) {
		t.Fatalf("after SetRoles: %+v, %v; want [ops]", id, err)
	}
	if err := s.RemoveUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Authenticate(ctx, chain); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("after RemoveUser: %+v, %v; want ErrUnknownUser", id, err)
	}
}
