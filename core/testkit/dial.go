package testkit

import (
	"testing"

	"google.golang.org/grpc"
)

// Dialer is what reaches a cluster: a user's profile or a machine's
// identity.
type Dialer interface {
	Dial() (*grpc.ClientConn, error)
}

// Dial opens a connection to the cluster of d, closed when the test ends.
func Dial(t testing.TB, d Dialer) *grpc.ClientConn {
	t.Helper()
	conn, err := d.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}
