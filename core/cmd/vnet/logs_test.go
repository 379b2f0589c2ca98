package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vnetproject/vnet/core/cluster/clustertest"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/netcfg"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/stack/stacktest"
	"github.com/vnetproject/vnet/core/vnet"
)

// TestLogsHoldNoSecrets runs the paths that handle secrets, with every log
// at debug, as text and as JSON: the cluster's logins (a token with a new
// password, the token again, a wrong password, the right one) and the
// engine that loads the login and serves it. Neither the logs nor what
// the commands print may hold the token, a password, the login's key or
// its certificate.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			noConfig(t)
			logs := &syncWriter{}
			log := newLogger(format, true, false, logs)
			cfg := clustertest.Config(t, "root.test", "proxy.root.test",
				clustertest.App{Name: "echo", URI: "tcp://" + clustertest.EchoServer(t), PublicAddr: "echo.company.test"})
			if err := cfg.CheckAndSetDefaults(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := daemon.Start(ctx, cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- d.Serve(ctx) }()
			defer func() { cancel(); <-served; d.Close() }()
			token, _, err := d.Auth().AddUser(ctx, "alice", []string{"dev"})
			if err != nil {
				t.Fatal(err)
			}
			const password, wrong = "Tr0ub4dor&3-secret-pw", "wrong-guess-7f3a9c-pw"
			dir := t.TempDir()
			file := func(name, content string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			login := []string{"login", "--proxy", d.Addr().String(), "--user", "alice", "--ca-pin", d.Auth().CA().Pin()}
			var said strings.Builder
			step := func(want int, args ...string) {
				code, out, errOut := runTest(t, append(slices.Clone(login), args...)...)
				said.WriteString(out + errOut)
				if code != want {
					t.Fatalf("vnet %v: exit %d (%s%s), want %d", args, code, out, errOut, want)
				}
			}
			step(0, "--token-file", file("token", token), "--new-password-file", file("pw", password))
			step(1, "--token-file", file("token", token), "--new-password-file", file("pw", password))
			step(1, "--password-file", file("wrong", wrong))
			step(0, "--password-file", file("pw", password))

			// The engine loads the login and serves until the OS took its
			// settings, logging at debug.
			p, err := profile.Load(profile.Dir(profile.Home(), d.Addr().String()))
			if err != nil {
				t.Fatal(err)
			}
			var printed bytes.Buffer
			r, err := vnet.Open(vnet.Options{
				ProfileDir: profile.Home(),
				StateDir:   filepath.Join(dir, "state"),
				Upstream:   []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")},
				Logger:     log,
				Progress:   &upPrinter{w: &printed},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			pipe, _ := stacktest.Pipe(64)
			h := &settingsHost{PacketIO: pipe, applied: make(chan netcfg.Settings, 16)}
			rctx, stop := context.WithCancel(ctx)
			ran := make(chan error, 1)
			go func() { ran <- r.Run(rctx, h) }()
			<-h.applied
			stop()
			if err := <-ran; err != nil {
				t.Fatalf("Run: %v", err)
			}

			logged := logs.String()
			all := logged + said.String() + printed.String()
			for _, want := range []string{"catalog loaded", "login"} {
				if !strings.Contains(logged, want) {
					t.Fatalf("no %q in the log (%s): the test looks at nothing", want, logged)
				}
			}
			secrets := map[string]string{"the token": token, "the password": password, "the wrong password": wrong}
			for _, what := range slices.Collect(maps.Keys(secrets)) {
				// As a []byte value, which the JSON handler writes in base64.
				secrets[what+" in base64"] = base64.StdEncoding.EncodeToString([]byte(secrets[what]))
			}
			for what, pemData := range map[string][]byte{"the key": p.KeyPEM, "the certificate": p.CertPEM} {
				secrets[what+" in base64"] = base64.StdEncoding.EncodeToString(pemData)[:64]
				// Every line of a PEM body: a JSON log would escape the
				// line breaks, and base64 of the whole DER starts as the
				// first line does.
				for i, line := range strings.Split(string(pemData), "\n") {
					if len(line) >= 16 && !strings.HasPrefix(line, "-----") {
						secrets[fmt.Sprintf("%s (PEM line %d)", what, i+1)] = line
					}
				}
			}
			for what, s := range secrets {
				if strings.Contains(all, s) {
					t.Errorf("%s (%q) is in the %s log or output", what, s, format)
				}
			}
		})
	}
}

// settingsHost is a vnet.Host over an in-memory pipe that reports the
// settings it is asked for.
type settingsHost struct {
	vnet.PacketIO
	applied chan netcfg.Settings
}

func (h *settingsHost) ApplySettings(_ context.Context, s netcfg.Settings) error {
	h.applied <- s
	return nil
}

func (h *settingsHost) LocalPrefixes() []netip.Prefix { return nil }

// syncWriter serialises writes from the daemon's and the engine's
// goroutines into one buffer.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
