package profile

import (
	"errors"
	"fmt"
	"time"

	"github.com/vnetproject/vnet/core/api"
)

// ErrCertExpired means a profile's certificate is past its end: the
// cluster would refuse it, so VNet refuses its connections at once.
var ErrCertExpired = errors.New("certificate expired")

// CheckCert returns an error wrapping ErrCertExpired, saying how to renew
// it, if the profile's certificate is not valid at now.
func (p *Profile) CheckCert(now time.Time) error {
	exp, err := p.Expires()
	if err != nil {
		return fmt.Errorf("profile for %s: %w", p.ProxyAddr, err)
	}
	if now.After(exp) {
		return fmt.Errorf("%w at %s: run vnet login --proxy=%s --user=%s", ErrCertExpired, api.TimeText(exp), p.ProxyAddr, p.User)
	}
	return nil
}
