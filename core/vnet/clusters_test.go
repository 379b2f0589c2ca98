package vnet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/catalog"
	"github.com/vnetproject/vnet/core/profile"
	"github.com/vnetproject/vnet/core/profile/profiletest"
)

// TestExpiredLoginRefusedAtOnce: a login whose certificate has expired
// gets no dial (the connection is refused at once) and its catalog
// source says how to renew it.
func TestExpiredLoginRefusedAtOnce(t *testing.T) {
	p := profiletest.SelfSigned(t, "127.0.0.1:1", time.Now().Add(-time.Minute))
	cs, err := Connect([]*profile.Profile{p})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cs.DialApp(ctx, AppTarget{ClusterID: p.ID(), Via: p.ID(), Cluster: "c", App: "db", Port: 5432})
	if !errors.Is(err, profile.ErrCertExpired) || !strings.Contains(err.Error(), "vnet login --proxy=127.0.0.1:1") {
		t.Fatalf("DialApp with an expired certificate: %v", err)
	}
	err = cs.Logins()[0].Source.Watch(ctx, func([]catalog.Cluster) { t.Error("an expired login offered a catalog") })
	if !errors.Is(err, profile.ErrCertExpired) {
		t.Fatalf("Watch with an expired certificate: %v", err)
	}
}

// TestLoginCertCheckedAgainstItsExpiry: a login reads its certificate's
// expiry once; a dial after that expiry is refused with the profile's
// message, one before it passes.
func TestLoginCertCheckedAgainstItsExpiry(t *testing.T) {
	expiry := time.Now().Add(time.Hour)
	p := profiletest.SelfSigned(t, "127.0.0.1:1", expiry)
	cs, err := Connect([]*profile.Profile{p})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	l := cs.byID[p.ID()]
	if err := l.checkCert(time.Now()); err != nil {
		t.Fatalf("before the expiry: %v", err)
	}
	if err := l.checkCert(expiry.Add(time.Second)); !errors.Is(err, profile.ErrCertExpired) || !strings.Contains(err.Error(), "vnet login --proxy=127.0.0.1:1") {
		t.Fatalf("after the expiry: %v", err)
	}
	// A certificate that cannot be read: every dial says why.
	bad := &login{profile: &profile.Profile{ProxyAddr: "127.0.0.1:1", CertPEM: []byte("not a certificate")}}
	if err := bad.checkCert(time.Now()); err == nil {
		t.Fatal("a login without a readable certificate passed")
	}
}

// TestWatchEndsWhenTheCertificateExpires: a catalog stream of a login
// ends when its certificate does, with the error that says so.
func TestWatchEndsWhenTheCertificateExpires(t *testing.T) {
	p := profiletest.SelfSigned(t, "127.0.0.1:1", time.Now().Add(1500*time.Millisecond))
	src := certSource{profile: p}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A source that blocks until its context ends: only the expiry ends
	// the watch.
	blocking := func(ctx context.Context, _ func([]catalog.Cluster)) error {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := src.watchWith(ctx, blocking, func([]catalog.Cluster) {}); !errors.Is(err, profile.ErrCertExpired) {
		t.Fatalf("watch across the expiry: %v", err)
	}
}
