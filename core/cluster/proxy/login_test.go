package proxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"log/slog"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/store"
)

// TestLoginLogsABoundedPrefix: a login with a huge user name is refused
// with one line, and the log holds a bounded prefix of the name.
func TestLoginLogsABoundedPrefix(t *testing.T) {
	ctx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 4000}})
	st := store.NewMemory()
	ca, err := auth.LoadOrCreateCA(ctx, st, "root.test")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(st, ca, 0)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a := &authServer{cluster: "root.test", auth: svc, log: slog.New(slog.NewTextHandler(&logs, nil))}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)

	huge := strings.Repeat("x", 1<<20)
	for _, req := range []*api.LoginRequest{
		{User: huge, Secret: &api.LoginRequest_Password{Password: "correct horse"}, PublicKey: pub},
		{User: huge, Secret: &api.LoginRequest_Token{Token: "00"}, PublicKey: pub},
	} {
		logs.Reset()
		_, err := a.Login(ctx, req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "user name is too long") || len(err.Error()) > 200 {
			t.Fatalf("login with a 1 MiB user name: %.200v; want one line saying the user name is too long", err)
		}
		if logs.Len() > 1024 || !strings.Contains(logs.String(), strings.Repeat("x", maxLoggedLen)) {
			t.Fatalf("log of a 1 MiB user name is %d bytes: %.300q", logs.Len(), logs.String())
		}
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{strings.Repeat("a", maxLoggedLen), strings.Repeat("a", maxLoggedLen)},
		{strings.Repeat("a", maxLoggedLen+5), strings.Repeat("a", maxLoggedLen) + "…(5 more bytes)"},
		// Cut at a rune, never inside one.
		{strings.Repeat("a", maxLoggedLen-1) + "é" + "b", strings.Repeat("a", maxLoggedLen-1) + "…(3 more bytes)"},
	} {
		if got := clip(tc.in); got != tc.want {
			t.Errorf("clip(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLoginBusyIsUnavailable(t *testing.T) {
	if got := status.Code(grpcError(auth.ErrLoginBusy)); got != codes.Unavailable {
		t.Fatalf("ErrLoginBusy maps to %v, want Unavailable (retry)", got)
	}
}
