package trust

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/mtls"
)

// A leaf's certificate at its root lives a day at most (the root's
// auth_service.machine_cert_ttl). The leaf renews it at two thirds of its
// life with Trust.Renew over a new key, authenticated by the certificate
// it holds; the root binds the new certificate to the same leaf record,
// so removing the trust ends it too. The new identity replaces the stored
// one and the leaf reconnects with it. A leaf offline past its
// certificate's end joins again with its trusted_cluster's token
// (identity.go).

// errRenewed ends a session after a renewal: the next one connects with
// the new certificate.
var errRenewed = errors.New("certificate renewed")

// renewTime is when prof's certificate is renewed: at two thirds of what
// was left of its life when this connection first saw it.
func (c *conn) renewTime(prof *mtls.Identity) time.Time {
	if c.renewCert != string(prof.CertPEM) {
		c.renewCert = string(prof.CertPEM)
		c.renewAt = mtls.RenewAt(prof, time.Now())
	}
	return c.renewAt
}

// retryRenewal is when a renewal that failed at now is tried again: soon,
// and well before the certificate ends.
func (c *conn) retryRenewal(prof *mtls.Identity, now time.Time) time.Time {
	c.renewAt = mtls.RetryAt(prof, now)
	return c.renewAt
}

// renew asks the root on gc for a new certificate over a new key and
// stores it in place of prof's.
func (c *conn) renew(ctx context.Context, gc api.TrustClient, prof *mtls.Identity) error {
	rctx, cancel := context.WithTimeout(ctx, welcomeTimeout)
	defer cancel()
	next, err := mtls.Renew(rctx, prof, func(ctx context.Context, pub []byte) ([]byte, error) {
		res, err := gc.Renew(ctx, &api.RenewRequest{PublicKey: pub})
		return res.GetCertificatePem(), err
	})
	if err != nil {
		return err
	}
	if err := saveRenewed(ctx, c.svc.cfg.Store, c.tc.Name(), next.CertPEM, next.KeyPEM); err != nil {
		return fmt.Errorf("store the renewed certificate: %w", err)
	}
	exp, _ := next.Expires()
	c.svc.cfg.Logger.Info("certificate at the root cluster renewed", "root", c.tc.Name(), "expires", exp.UTC().Format(time.RFC3339))
	return nil
}
