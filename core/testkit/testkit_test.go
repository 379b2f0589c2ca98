package testkit_test

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/vnetproject/vnet/core/testkit"
)

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
		}
	}()
	testkit.Eventually(t, "three increments", func() bool { return n.Load() == 3 })
}

func TestCheckGoroutinesWaitsForThemToEnd(t *testing.T) {
	t.Run("ended", func(t *testing.T) {
		testkit.CheckGoroutines(t)
		stop := make(chan struct{})
		go func() { <-stop }()
		t.Cleanup(func() { close(stop) }) // runs before the check's cleanup
	})
}

func TestPortsAreFreeAndDistinct(t *testing.T) {
	ports := testkit.FreePorts(t, 5)
	seen := map[string]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("%s twice in %v", p, ports)
		}
		seen[p] = true
	}
	c, err := net.Dial("tcp", testkit.ClosedPort(t))
	if err == nil {
		c.Close()
		t.Fatal("a dial to ClosedPort was accepted")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial ClosedPort: %v, want connection refused", err)
	}
}
