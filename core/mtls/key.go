package mtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
)

// Key is a fresh private key for a certificate of the cluster CA.
type Key struct {
	Public crypto.PublicKey
	PEM    []byte // PKCS#8, to store with the certificate
	PubDER []byte // PKIX, to send to the cluster
}

// NewKey generates an ECDSA P-256 key. It never leaves the machine; only
// its public half is sent at login, join or renewal.
func NewKey() (*Key, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Key{Public: &k.PublicKey, PEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), PubDER: pub}, nil
}
