package api

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestErrorLine(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.PermissionDenied, "access denied"), "access denied"},
		{fmt.Errorf("login to p:3080: %w", status.Error(codes.Unauthenticated, "invalid token")), "login to p:3080: invalid token"},
		{errors.New("two\nlines"), "two lines"},
	} {
		if got := ErrorLine(tc.err); got != tc.want {
			t.Errorf("ErrorLine(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
