package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"sync"
	"time"
)

// ConnVerified holds the chain check of one TLS connection's client
// certificate: the proxy makes one per connection (NewConnVerified) and
// hands it to every call on that connection (WithConnVerified), so that
// the ECDSA check of the chain, which cannot change on a connection, runs
// once per connection instead of once per stream. It is never shared
// between connections. What changes with time is still checked on every
// call: the certificate's expiry here, its record (user, agent, leaf) by
// Authenticate and AuthenticateMachine.
type ConnVerified struct {
	mu     sync.Mutex
	raw    []byte   // the DER of the certificate verified; nil before the first success
	ca     *CA      // the CA it was verified against: another (a rotation) checks again
	id     Identity // what it carries
	checks int      // chain checks made (tests)
}

// NewConnVerified returns an empty cache for one TLS connection.
func NewConnVerified() *ConnVerified { return &ConnVerified{} }

type connVerifiedKey struct{}

// WithConnVerified returns ctx carrying the connection's cache c for
// Authenticate and AuthenticateMachine.
func WithConnVerified(ctx context.Context, c *ConnVerified) context.Context {
	return context.WithValue(ctx, connVerifiedKey{}, c)
}

// verify is ca.Verify through the connection's cache, if ctx carries one:
// the chain is checked again whenever chain[0] is not the very
// certificate (byte for byte) that passed on this connection against
// this CA, and the expiry always.
func (ca *CA) verify(ctx context.Context, chain []*x509.Certificate, now time.Time) (Identity, error) {
	c, _ := ctx.Value(connVerifiedKey{}).(*ConnVerified)
	if c == nil || len(chain) == 0 {
		return ca.Verify(chain, now)
	}
	leaf := chain[0]
	if err := checkExpiry(leaf, now); err != nil {
		return Identity{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raw != nil && c.ca == ca && bytes.Equal(c.raw, leaf.Raw) {
		id := c.id
		id.Roles = slices.Clone(id.Roles)
		return id, nil
	}
	c.checks++
	id, err := ca.Verify(chain, now)
	if err != nil {
		return Identity{}, err
	}
	c.raw, c.ca, c.id = bytes.Clone(leaf.Raw), ca, id
	c.id.Roles = slices.Clone(id.Roles)
	return id, nil
}

// checkExpiry refuses a certificate that has expired at now.
func checkExpiry(leaf *x509.Certificate, now time.Time) error {
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("%w (expired %s)", ErrCertExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
