package testkit

import (
	"net"
	"testing"
)

// FreePorts returns n different loopback host:ports nothing listens on
// right now (each is held until all are chosen, so none repeats).
func FreePorts(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		out = append(out, l.Addr().String())
	}
	return out
}

// ClosedPort returns a loopback host:port where nothing listens: a dial
// there is refused.
func ClosedPort(t testing.TB) string {
	t.Helper()
	return FreePorts(t, 1)[0]
}
