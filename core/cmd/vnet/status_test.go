package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/profile/profiletest"
	"github.com/vnetproject/vnet/core/vnet"
)

// TestClusterState: `vnet status` calls a cluster connected only when
// VNet follows it, the cluster answers this login now and the certificate
// is valid; anything else is a problem with its reason and next step
// (issue 14: a removed user, an expired certificate and an unreachable
// proxy all showed "connected").
func TestClusterState(t *testing.T) {
	now := time.Now()
	const id = "proxy.example.test:3080"
	valid := profiletest.SelfSigned(t, id, now.Add(time.Hour))
	expired := profiletest.SelfSigned(t, id, now.Add(-time.Minute))
	up := clusterView{ID: id, Name: "example.test", Connected: true}
	for _, tc := range []struct {
		name   string
		c      clusterView
		askErr string
		expired,
		want, next string
	}{
		{name: "all good", c: up, want: stateConnected},
		{name: "user removed while the stream stays open", c: up, askErr: "user alice no longer exists", want: stateRefused, next: "ask your administrator"},
		{name: "certificate expired while connected", c: up, expired: "yes", want: stateExpired, next: "vnet login --proxy=" + id},
		{name: "proxy unreachable", c: up, askErr: `connection error: desc = "transport: Error while dialing: dial tcp 10.0.0.1:3080: connect: connection refused"`, want: stateUnreachable, next: "retries with back-off"},
		{name: "asked too slowly", c: up, askErr: "context deadline exceeded", want: stateUnreachable},
		{name: "VNet lost it", c: clusterView{ID: id, Name: "example.test", Error: "stream ended"}, want: stateDisconnected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := valid
			if tc.expired != "" {
				p = expired
			}
			s := stateOf(tc.c, p, tc.askErr, now)
			if s.State != tc.want {
				t.Fatalf("state %+v, want %q", s, tc.want)
			}
			if s.State != stateConnected && (s.Reason == "" || s.Next == "") {
				t.Errorf("%+v: a problem needs its reason and next step", s)
			}
			if tc.next != "" && !strings.Contains(s.Next, tc.next) {
				t.Errorf("next %q, want it to contain %q", s.Next, tc.next)
			}
		})
	}
}

// TestStatusFindsHelperEngine: an engine the user runs with a `vnet
// helper` service (no sudo) makes its control socket in ~/.vnet/state;
// `vnet status` and `vnet diag` find it there without --state-dir, and a
// --state-dir given still decides.
func TestStatusFindsHelperEngine(t *testing.T) {
	noConfig(t)
	dir := userStateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := control.Listen(filepath.Join(dir, control.SocketName), -1, -1, control.Handlers{
		Status: func() any { return vnet.Status{Running: true, Since: time.Now()} },
		Diag: func(context.Context) any {
			return diag.Diagnosis{Checks: []diag.Check{{Name: "VNet", OK: true, Detail: "running"}}}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code, out, errOut := runTest(t, "status"); code != 0 || !strings.Contains(out, "VNet is running since") {
		t.Errorf("vnet status: exit %d, %q %q; want the engine in %s", code, out, errOut, dir)
	}
	if code, out, errOut := runTest(t, "diag"); code != 0 || !strings.Contains(out, "ok   VNet") {
		t.Errorf("vnet diag: exit %d, %q %q; want the engine in %s", code, out, errOut, dir)
	}
	if code, _, errOut := runTest(t, "status", "--state-dir", t.TempDir()); code != 1 || !strings.Contains(errOut, "not running") {
		t.Errorf("vnet status --state-dir elsewhere: exit %d, %q; want not running", code, errOut)
	}
}
