package testkit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Netns says how RunInNetns runs a test of this binary in a network
// namespace of its own.
type Netns struct {
	// Prefix starts the namespace's name; the test process's pid ends it.
	Prefix string
	// Env is the environment variable that carries the namespace's name
	// to the copy of the binary inside (InNetns reads it there).
	Env string
	// Inner is the test to run inside (a name, as for -test.run).
	Inner string
	// ResolvConf, if not nil, gives the namespace's /etc/resolv.conf from
	// its name: `ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf
	// over /etc/resolv.conf there, and the host's file is never touched.
	ResolvConf func(name string) string
}

// InNetns is the namespace's name when this process is the copy of the
// test binary RunInNetns started inside it, else "".
func InNetns(env string) string { return os.Getenv(env) }

// RunInNetns runs the test n.Inner as root inside a fresh network
// namespace, by running this test binary again under `ip netns exec`, and
// fails t if it fails or does not run: a test's real changes to devices,
// routes and rules touch only that namespace. It skips t without root,
// /dev/net/tun or the ip command, and when already inside.
func RunInNetns(t *testing.T, n Netns) {
	t.Helper()
	if InNetns(n.Env) != "" {
		t.Skip("already inside the namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("needs /dev/net/tun")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command")
	}
	name := fmt.Sprintf("%s-%d", n.Prefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if n.ResolvConf != nil {
		_, statErr := os.Stat("/etc/netns")
		etcDir := filepath.Join("/etc/netns", name)
		if err := os.MkdirAll(etcDir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			os.RemoveAll(etcDir)
			if statErr != nil {
				os.Remove("/etc/netns") // ours, and empty unless someone else uses it now
			}
		})
		if err := os.WriteFile(filepath.Join(etcDir, "resolv.conf"), []byte(n.ResolvConf(name)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a performance bound: a hung inner test fails instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0],
		"-test.run=^"+n.Inner+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), n.Env+"="+name)
	out, err := cmd.CombinedOutput()
	t.Logf("inside %s:\n%s", name, out)
	if err != nil {
		t.Fatalf("test inside the namespace failed: %v", err)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+n.Inner)) {
		t.Fatal("test inside the namespace did not run")
	}
}
