// Package etcdtest starts a real etcd server for tests: the `etcd` binary
// (Debian package etcd-server) on a temp data directory and random
// loopback ports, stopped when the test ends. Tests skip when the binary
// is absent.
package etcdtest

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startTimeout bounds the wait for etcd to serve; generous for a busy machine.
const startTimeout = time.Minute

// Start runs an etcd server until the test ends and returns its client
// URL. It skips the test when the etcd binary is not installed.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (apt-get install etcd-server): skipping the tests that need a real etcd")
	}
	dir := t.TempDir()
	clientURL := "http://" + freePort(t)
	peerURL := "http://" + freePort(t)
	cmd := exec.Command(bin,
		"--name", "test",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", clientURL,
		"--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test="+peerURL,
		"--logger", "zap", "--log-outputs", "stderr",
	)
	logPath := filepath.Join(dir, "etcd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once waitErr is set
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if healthy(ctx, clientURL) {
			return clientURL
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("etcd exited: %v\n%s", waitErr, tail(log, 2000))
		case <-ctx.Done():
			t.Fatalf("etcd did not become healthy at %s within %v", clientURL, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func healthy(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return false
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// freePort returns a loopback host:port nothing listens on right now.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
