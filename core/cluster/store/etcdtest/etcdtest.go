// Package etcdtest starts a real etcd server for tests: the `etcd` binary
// (Debian package etcd-server) on a temp data directory and random
// loopback ports, stopped when the test ends, serving clients over plain
// HTTP (Start) or over TLS with client certificates from a CA made in the
// test (StartTLS). Tests skip when the binary is absent.
package etcdtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/vnetproject/vnet/core/testkit"
)

// startTimeout bounds the wait for etcd to serve; generous for a busy machine.
const startTimeout = time.Minute

// ClientName is the common name of the client certificate StartTLS makes.
// It is no etcd user: with etcd auth enabled, a client that presents only
// this certificate has no rights.
const ClientName = "vnet-proxy"

// Server is a running test etcd.
type Server struct {
	URL string // client URL: http://127.0.0.1:port, or https:// from StartTLS
	// The files a client of a StartTLS server needs; empty from Start.
	CA       *CA    // signed the server's certificate and CertFile
	CertFile string // a client certificate the server accepts (CN ClientName)
	KeyFile  string
}

// Start runs an etcd server serving plain HTTP until the test ends and
// returns its client URL. It skips the test when the etcd binary is not
// installed.
func Start(t testing.TB) string {
	t.Helper()
	return start(t, false).URL
}

// StartTLS runs an etcd server that serves clients only over TLS and only
// with a client certificate signed by a CA made for it (Server.CA), until
// the test ends. It skips the test when the etcd binary is not installed.
func StartTLS(t testing.TB) *Server {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, useTLS bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("etcd not installed (apt-get install etcd-server): skipping the tests that need a real etcd")
	}
	dir := t.TempDir()
	// Both ports at once: a port freed and asked for again can come back.
	ports := testkit.FreePorts(t, 2)
	srv := &Server{URL: "http://" + ports[0]}
	var tlsArgs []string
	if useTLS {
		srv.URL = "https://" + ports[0]
		srv.CA = NewCA(t)
		serverCert, serverKey := srv.CA.Issue(t, "etcd", true)
		srv.CertFile, srv.KeyFile = srv.CA.Issue(t, ClientName, false)
		tlsArgs = []string{
			"--cert-file", serverCert, "--key-file", serverKey,
			"--client-cert-auth", "--trusted-ca-file", srv.CA.File,
		}
	}
	peerURL := "http://" + ports[1]
	args := []string{
		"--name", "test",
		"--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", srv.URL,
		"--advertise-client-urls", srv.URL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "test=" + peerURL,
		"--logger", "zap", "--log-outputs", "stderr",
	}
	cmd := exec.Command(bin, append(args, tlsArgs...)...)
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
	client := http.DefaultClient
	if useTLS {
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: srv.clientTLS(t)}}
		defer client.CloseIdleConnections()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		if healthy(ctx, client, srv.URL) {
			return srv
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("etcd exited: %v\n%s", waitErr, tail(log, 2000))
		case <-ctx.Done():
			t.Fatalf("etcd did not become healthy at %s within %v", srv.URL, startTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clientTLS is the TLS configuration of a client holding the server's
// client certificate.
func (s *Server) clientTLS(t testing.TB) *tls.Config {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

// EnableAuth turns on etcd's authentication: a root user (with a password
// nobody keeps) and a user with password, allowed to read and write the
// keys under prefix only. A StartTLS server only (it talks to etcd with
// the client certificate).
func (s *Server) EnableAuth(t testing.TB, user, password, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.URL},
		TLS:         s.clientTLS(t),
		DialTimeout: startTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", randomHex(t)); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, user); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, user, prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, user, password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, user, user); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("enable etcd auth, step %d: %v", i, err)
		}
	}
}

func healthy(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return false
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
