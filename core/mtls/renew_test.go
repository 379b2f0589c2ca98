package mtls_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vnetproject/vnet/core/mtls"
	"github.com/vnetproject/vnet/core/mtls/mtlstest"
)

func TestRenewAtAndRetryAt(t *testing.T) {
	now := time.Now()
	id := mtlstest.SelfSigned(t, "p.test:3080", now.Add(9*time.Hour))
	if got, want := mtls.RenewAt(id, now), now.Add(6*time.Hour); got.Sub(want).Abs() > time.Second {
		t.Errorf("RenewAt with 9 h left = %v from now, want 6 h", got.Sub(now))
	}
	if got := mtls.RenewAt(id, now.Add(10*time.Hour)); !got.Equal(now.Add(10 * time.Hour)) {
		t.Errorf("RenewAt past the end = %v, want at once", got)
	}
	if got := mtls.RetryAt(id, now); got.Sub(now) != time.Minute {
		t.Errorf("RetryAt with 9 h left = %v from now, want a minute", got.Sub(now))
	}
	short := mtlstest.SelfSigned(t, "p.test:3080", now.Add(20*time.Second))
	if got := mtls.RetryAt(short, now); got.Sub(now) > 5*time.Second+time.Second {
		t.Errorf("RetryAt with 20 s left = %v from now, want a quarter of it", got.Sub(now))
	}
}

func TestRenew(t *testing.T) {
	old := mtlstest.SelfSigned(t, "p.test:3080", time.Now().Add(time.Hour))
	fresh := mtlstest.SelfSigned(t, "p.test:3080", time.Now().Add(2*time.Hour))
	// The "cluster" answers with fresh's certificate whatever key it was
	// asked for: the key check in Renew must refuse it.
	_, err := mtls.Renew(context.Background(), old, func(context.Context, []byte) ([]byte, error) { return fresh.CertPEM, nil })
	if err == nil {
		t.Fatal("Renew took a certificate for another key")
	}
	_, err = mtls.Renew(context.Background(), old, func(context.Context, []byte) ([]byte, error) { return nil, errors.New("denied") })
	if err == nil || err.Error() != "renew the certificate: denied" {
		t.Fatalf("a refused renewal: %v", err)
	}
}
