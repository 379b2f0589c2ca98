package trust

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/cluster/store"
	"github.com/vnetproject/vnet/core/mtls"
)

// The leaf keeps, per root, in its own store:
//
//	/trust/identity/<root>  the leaf certificate, key and root CA (JSON)
//	/trust/refused/<root>   SHA-256 of the token whose identity the root refused
//
// so that restarts reuse the identity, and a leaf whose trust the root
// removed does not join again with the same token.
const (
	identityPrefix = "/trust/identity/"
	refusedPrefix  = "/trust/refused/"
)

// errTrustRemoved: the root refused this leaf's certificate.
var errTrustRemoved = errors.New("the root cluster removed this cluster's trust")

type identity struct {
	CertPEM   []byte `json:"cert_pem"`
	KeyPEM    []byte `json:"key_pem"`
	CAPEM     []byte `json:"ca_pem"`
	TokenHash string `json:"token_hash"` // of the token it was joined with
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// loadOrJoin returns this leaf's identity at the root tc names, joining
// with tc's token the first time.
func (c *conn) loadOrJoin(ctx context.Context) (*mtls.Identity, error) {
	st, tc := c.svc.cfg.Store, c.tc
	prof := func(id identity) *mtls.Identity {
		return &mtls.Identity{
			ProxyAddr: tc.Spec.WebProxyAddr, ClusterName: tc.Name(),
			User:    auth.LeafUserPrefix + c.svc.cfg.ClusterName,
			CertPEM: id.CertPEM, KeyPEM: id.KeyPEM, CAPEM: id.CAPEM,
		}
	}
	data, err := st.Get(ctx, identityPrefix+tc.Name())
	if err == nil {
		var id identity
		if err := json.Unmarshal(data, &id); err != nil {
			return nil, fmt.Errorf("stored identity at root %s is damaged: %w", tc.Name(), err)
		}
		p := prof(id)
		if exp, err := p.Expires(); err != nil || !time.Now().Before(exp) {
			// Offline past its end (or damaged): the root would refuse
			// it, and it cannot be renewed. Join again with the
			// trusted_cluster's token; the root keeps the leaf's record
			// (and its grants) if its trust was not removed.
			c.svc.cfg.Logger.Warn("the certificate at the root cluster has expired: joining again with the trusted_cluster's token", "root", tc.Name(), "expired", exp.UTC().Format(time.RFC3339))
			if err := st.Delete(ctx, identityPrefix+tc.Name()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		} else {
			return p, nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	th := tokenHash(tc.Spec.Token)
	if refused, err := st.Get(ctx, refusedPrefix+tc.Name()); err == nil && string(refused) == th {
		return nil, fmt.Errorf("%w: put a new token from 'vnet ctl tokens add --type=trusted_cluster' in trusted_cluster/%s", errTrustRemoved, tc.Name())
	}
	id, err := c.join(ctx)
	if err != nil {
		return nil, err
	}
	id.TokenHash = th
	data, _ = json.Marshal(id)
	if err := st.Put(ctx, identityPrefix+tc.Name(), data); err != nil {
		return nil, fmt.Errorf("store identity at root %s: %w", tc.Name(), err)
	}
	return prof(id), nil
}

// join redeems tc's token at the root proxy, trusting it by ca_pin only.
func (c *conn) join(ctx context.Context) (identity, error) {
	tc := c.tc
	gc, trustedCA, err := mtls.DialPinned(tc.Spec.WebProxyAddr, func(got string) error {
		if got != tc.Spec.CAPin {
			return fmt.Errorf("the root proxy's CA pin is %s, not ca_pin %s: check web_proxy_addr and ca_pin", got, tc.Spec.CAPin)
		}
		return nil
	})
	if err != nil {
		return identity{}, err
	}
	defer gc.Close()
	key, err := mtls.NewKey()
	if err != nil {
		return identity{}, err
	}
	res, err := api.NewTrustClient(gc).Join(ctx, &api.JoinRequest{Token: tc.Spec.Token, PublicKey: key.PubDER, HostName: c.svc.cfg.ClusterName})
	if err != nil {
		return identity{}, fmt.Errorf("join root cluster at %s: %w", tc.Spec.WebProxyAddr, err)
	}
	if res.GetClusterName() != tc.Name() {
		return identity{}, fmt.Errorf("the proxy at %s serves cluster %q, not %q (the trusted_cluster's metadata.name)", tc.Spec.WebProxyAddr, res.GetClusterName(), tc.Name())
	}
	ca := trustedCA()
	if ca == nil {
		return identity{}, errors.New("join: the TLS handshake was not verified")
	}
	return identity{CertPEM: res.GetCertificatePem(), KeyPEM: key.PEM, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})}, nil
}

// saveRenewed replaces the stored identity at root with a renewed
// certificate and its key; the token it was joined with stays recorded.
func saveRenewed(ctx context.Context, st store.Store, root string, certPEM, keyPEM []byte) error {
	data, err := st.Get(ctx, identityPrefix+root)
	if err != nil {
		return err
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil {
		return err
	}
	id.CertPEM, id.KeyPEM = certPEM, keyPEM
	next, _ := json.Marshal(id)
	return st.CompareAndSwap(ctx, identityPrefix+root, data, next)
}

// refused records that the root refused the identity joined with its
// token, and drops the identity.
func refused(ctx context.Context, st store.Store, root string) error {
	data, err := st.Get(ctx, identityPrefix+root)
	if err != nil {
		return err
	}
	var id identity
	_ = json.Unmarshal(data, &id)
	if err := st.Put(ctx, refusedPrefix+root, []byte(id.TokenHash)); err != nil {
		return err
	}
	return st.Delete(ctx, identityPrefix+root)
}

// forget drops what this leaf kept about root.
func forget(ctx context.Context, st store.Store, root string) error {
	var errs []error
	for _, k := range []string{identityPrefix + root, refusedPrefix + root} {
		if err := st.Delete(ctx, k); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// remoteIdentity is a root user as this cluster sees them: named after
// their cluster, with the roles tc's role map gives them here.
func remoteIdentity(tc *resource.TrustedCluster, user string, roles []string) auth.Identity {
	return auth.Identity{User: user + "@" + tc.Name(), Roles: tc.MapRoles(roles)}
}
