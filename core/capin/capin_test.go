package capin

import (
	"crypto/x509"
	"strings"
	"testing"
)

func TestOfIsSHA256OfTheKey(t *testing.T) {
	a := Of(&x509.Certificate{RawSubjectPublicKeyInfo: []byte("a")})
	if !strings.HasPrefix(a, "sha256:") || len(a) != len("sha256:")+64 {
		t.Fatalf("pin %q", a)
	}
	if a == Of(&x509.Certificate{RawSubjectPublicKeyInfo: []byte("b")}) {
		t.Fatal("two keys, one pin")
	}
}
