package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/profile/profiletest"
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
