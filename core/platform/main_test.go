package platform

import (
	"io"
	"os"
	"os/exec"
	"testing"
)

// envHelper makes the test binary act as a helper process instead of running
// tests: "hold" waits until its stdin closes (a live process with the same
// program name as a running VNet), "exit" exits at once (a dead pid),
// "rewrite" writes the resolv.conf named by envRewritePath in place, over
// and over, until it is killed.
const envHelper = "VNET_PLATFORM_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(envHelper) {
	case "hold":
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "exit":
		os.Exit(0)
	case "rewrite":
		rewriteForever(os.Getenv(envRewritePath))
	}
	os.Exit(m.Run())
}

// deadPID returns the pid of a process that has exited and been reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = helperEnv("exit")
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	return cmd.Process.Pid
}

// holdPID starts a process that runs until the test ends and returns its
// pid. With self it is this test binary (same program name, so it looks like
// a running VNet); otherwise it is cat, a different program.
func holdPID(t *testing.T, self bool) int {
	t.Helper()
	cmd := exec.Command("cat")
	if self {
		cmd = exec.Command(os.Args[0])
		cmd.Env = helperEnv("hold")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("helper process: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close() // the helper exits when its stdin closes
		_ = cmd.Wait()
	})
	if !self {
		// Until cat echoes, the child may not have finished exec and
		// would still carry this program's name.
		if _, err := io.WriteString(stdin, "x\n"); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(stdout, make([]byte, 2)); err != nil {
			t.Fatalf("cat did not echo: %v", err)
		}
	}
	return cmd.Process.Pid
}

// helperEnv is the environment of a helper process; the race detector's
// one-second pause at exit is not wanted there.
func helperEnv(mode string) []string {
	return append(os.Environ(), envHelper+"="+mode, "GORACE=atexit_sleep_ms=0")
}
