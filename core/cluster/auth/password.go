package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password rules. bcrypt reads at most 72 bytes; a longer password would
// be silently cut, so it is refused instead.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 72
)

// bcryptCost is the work factor of new hashes; tests lower it.
var bcryptCost = bcrypt.DefaultCost

// dummyHash is compared against when a user has no password (or does not
// exist), so that a failed login costs the same time either way and does
// not tell which names exist.
var dummyHash = newDummyHash()

func newDummyHash() []byte {
	h, err := bcrypt.GenerateFromPassword([]byte("no password is set for this user"), bcryptCost)
	if err != nil {
		panic(err) // only a cost out of range fails
	}
	return h
}

// CheckPassword returns why password is not acceptable, or nil.
func CheckPassword(password string) error {
	switch {
	case !utf8.ValidString(password):
		return errors.New("password is not valid UTF-8")
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("password is too short: use at least %d characters", MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("password is too long: at most %d bytes", MaxPasswordLen)
	}
	return nil
}

func hashPassword(password string) ([]byte, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// LoginWithPassword checks user's password and signs a client certificate
// for pubDER (PKIX, DER). Failed logins are limited per user and per
// source address (the caller's IP); over the limit it returns an error
// matching ErrTooManyLogins without checking the password. A wrong
// password, an unknown user and a user without a password all fail with
// ErrInvalidLogin.
func (s *Service) LoginWithPassword(ctx context.Context, user, password string, pubDER []byte, source string) ([]byte, Identity, error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("public key: %w", err)
	}
	if err := s.limiter.check(s.now(), user, source); err != nil {
		return nil, Identity{}, err
	}
	u, err := s.GetUser(ctx, user)
	if err != nil && !errors.Is(err, ErrUnknownUser) {
		return nil, Identity{}, err
	}
	hash := u.PasswordHash
	if len(hash) == 0 {
		hash = dummyHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || len(u.PasswordHash) == 0 {
		s.limiter.failed(s.now(), user, source)
		return nil, Identity{}, ErrInvalidLogin
	}
	s.limiter.succeeded(user)
	return s.issue(pub, u)
}
