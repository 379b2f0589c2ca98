package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/mtls"
)

// An agent's certificate lives a day at most (the cluster's
// auth_service.machine_cert_ttl). The agent renews it at two thirds of
// its life with Agent.Renew over a new key, authenticated by the
// certificate it holds; the cluster binds the new certificate to the same
// agent record, so removing the agent ends it too. The new identity
// replaces the one in data_dir (each file atomically) and the agent
// reconnects with it. An agent that was offline past its certificate's
// end cannot renew it: it joins again with a new token.

// ErrIdentityExpired means the agent's certificate has ended: it must
// join the cluster again with a new token.
var ErrIdentityExpired = errors.New("the agent's certificate has expired")

// errRenewed ends a session after a renewal: the next one connects with
// the new certificate.
var errRenewed = errors.New("certificate renewed")

// checkIdentity returns the one line an agent whose certificate has ended
// stops with (wrapping ErrIdentityExpired), or nil.
func checkIdentity(id *mtls.Identity, dir string, now time.Time) error {
	exp, err := id.Expires()
	if err != nil {
		return err
	}
	if !now.Before(exp) {
		where := "its identity"
		if dir != "" {
			where = dir
		}
		return fmt.Errorf("%w (at %s; the agent was offline past it): join again: remove %s and start the agent with a new join_token from 'vnet ctl tokens add --type=app'", ErrIdentityExpired, api.TimeText(exp), where)
	}
	return nil
}

// renewTime is when id is renewed: at two thirds of what is left of its
// life at now.

func (a *Agent) identity() *mtls.Identity {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.id
}

func (a *Agent) renewTime() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.renewAt
}

// retryRenewal is when a renewal that failed at now is tried again: soon,
// and well before the certificate ends.
func (a *Agent) retryRenewal(now time.Time) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.renewAt = mtls.RetryAt(a.id, now)
	return a.renewAt
}

// renew asks the proxy on conn for a new certificate over a new key,
// saves the new identity and makes it the current one.
func (a *Agent) renew(ctx context.Context, conn api.AgentClient) error {
	rctx, cancel := context.WithTimeout(ctx, welcomeTimeout)
	defer cancel()
	next, err := mtls.Renew(rctx, a.identity(), func(ctx context.Context, pub []byte) ([]byte, error) {
		res, err := conn.Renew(ctx, &api.RenewRequest{PublicKey: pub})
		return res.GetCertificatePem(), err
	})
	if err != nil {
		return err
	}
	if a.idDir != "" {
		if err := mtls.Save(a.idDir, next); err != nil {
			return fmt.Errorf("save the renewed certificate: %w", err)
		}
	}
	exp, _ := next.Expires()
	a.mu.Lock()
	a.id = next
	a.renewAt = mtls.RenewAt(next, time.Now())
	a.mu.Unlock()
	a.log.Info("certificate renewed", "agent", next.User, "expires", exp.UTC().Format(time.RFC3339))
	return nil
}
