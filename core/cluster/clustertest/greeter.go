package clustertest

import (
	"net"
	"testing"
)

// GreeterServer is a TCP app on loopback that says msg to every client and
// closes: tests tell apps (or the agents serving them) apart by it.
func GreeterServer(t testing.TB, msg string) string {
	return serveTCP(t, func(c net.Conn) { c.Write([]byte(msg)) })
}
