// Package auth is the cluster's Auth Service: its certificate authority,
// its users and their one-time sign-up tokens, and the identity a client
// certificate proves.
package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/vnetproject/vnet/core/capin"
	"github.com/vnetproject/vnet/core/cluster/store"
)

const caKey = "/auth/ca"

// caValidity is how long a new cluster CA lives. Rotation is not built yet.
const caValidity = 10 * 365 * 24 * time.Hour

// CA is a cluster's certificate authority. It signs the proxy's server
// certificate and every user's client certificate.
type CA struct {
	ClusterName string
	Cert        *x509.Certificate // never nil
	CertPEM     []byte            // never nil
	key         crypto.Signer     // never nil
}

// LoadOrCreateCA returns the cluster's CA from st, creating and storing a
// new one on the first start. A CA stored for another cluster name is an
// error: the data directory belongs to someone else.
func LoadOrCreateCA(ctx context.Context, st store.Store, clusterName string) (*CA, error) {
	data, err := st.Get(ctx, caKey)
	if errors.Is(err, store.ErrNotFound) {
		ca, pemBytes, err := newCA(clusterName)
		if err != nil {
			return nil, err
		}
		if err := st.Create(ctx, caKey, pemBytes); err != nil {
			if errors.Is(err, store.ErrExists) {
				// Another process created it first: use theirs.
				return LoadOrCreateCA(ctx, st, clusterName)
			}
			return nil, fmt.Errorf("store cluster CA: %w", err)
		}
		return ca, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load cluster CA: %w", err)
	}
	ca, err := parseCA(data)
	if err != nil {
		return nil, err
	}
	if ca.ClusterName != clusterName {
		return nil, fmt.Errorf("the data directory holds the CA of cluster %q, not %q: use another data_dir or the old cluster_name", ca.ClusterName, clusterName)
	}
	return ca, nil
}

func newCA(clusterName string) (*CA, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: clusterName, Organization: []string{"VNet cluster CA"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	stored := append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	ca, err := parseCA(stored)
	return ca, stored, err
}

func parseCA(data []byte) (*CA, error) {
	var certDER, keyDER []byte
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		switch block.Type {
		case "CERTIFICATE":
			certDER = block.Bytes
		case "PRIVATE KEY":
			keyDER = block.Bytes
		}
	}
	if certDER == nil || keyDER == nil {
		return nil, errors.New("stored cluster CA is damaged: certificate or key missing")
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("stored cluster CA: %w", err)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("stored cluster CA key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, errors.New("stored cluster CA key cannot sign")
	}
	return &CA{
		ClusterName: cert.Subject.CommonName,
		Cert:        cert,
		CertPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}),
		key:         signer,
	}, nil
}

// Pin is the CA's fingerprint as users compare it on first login:
// "sha256:" and the hex SHA-256 of the CA's SubjectPublicKeyInfo.
func (ca *CA) Pin() string { return capin.Of(ca.Cert) }

// Pool is a certificate pool holding just this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// IssueHost signs a server certificate for the proxy, valid for the given
// DNS names and IP addresses, with a fresh key.
func (ca *CA) IssueHost(hosts []string, ttl time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := ca.template(pkix.Name{CommonName: ca.ClusterName + " proxy"}, ttl)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	certPEM, err = ca.sign(tmpl, &key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

// IssueUser signs a client certificate for pub that proves id until ttl
// has passed.
func (ca *CA) IssueUser(pub crypto.PublicKey, id Identity, ttl time.Duration) ([]byte, error) {
	tmpl := ca.template(id.subject(), ttl)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.sign(tmpl, pub)
}

func (ca *CA) template(subject pkix.Name, ttl time.Duration) *x509.Certificate {
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	return &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      subject,
		NotBefore:    now.Add(-time.Minute), // tolerate small clock skew
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

func (ca *CA) sign(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}
