package mtls

import (
	"context"
	"fmt"
	"time"
)

// Machines (agents, leaf clusters) renew their certificates before they
// end: at two thirds of the life left (RenewAt), again soon after a failed
// try (RetryAt), over a fresh key (Renew).

// RenewAt is when id's certificate should be renewed, seen at now: at two
// thirds of the life it has left, or now if it has none.
func RenewAt(id *Identity, now time.Time) time.Time {
	exp, err := id.Expires()
	if err != nil || !now.Before(exp) {
		return now
	}
	return now.Add(exp.Sub(now) * 2 / 3)
}

// RetryAt is when a renewal of id that failed at now is tried again: soon
// (a minute at most), and well before the certificate ends.
func RetryAt(id *Identity, now time.Time) time.Time {
	wait := time.Minute
	if exp, err := id.Expires(); err == nil {
		wait = min(wait, max(exp.Sub(now)/4, 100*time.Millisecond))
	}
	return now.Add(wait)
}

// Renew makes a fresh key, asks call (the cluster's Renew RPC,
// authenticated by id's certificate) to certify it, and returns id with
// the new certificate and key; id itself is not changed.
func Renew(ctx context.Context, id *Identity, call func(ctx context.Context, pubDER []byte) (certPEM []byte, err error)) (*Identity, error) {
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	certPEM, err := call(ctx, key.PubDER)
	if err != nil {
		return nil, fmt.Errorf("renew the certificate: %w", err)
	}
	next := *id
	next.CertPEM, next.KeyPEM = certPEM, key.PEM
	if _, err := next.TLSConfig(); err != nil {
		return nil, fmt.Errorf("renewed certificate: %w", err)
	}
	return &next, nil
}
