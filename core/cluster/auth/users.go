package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vnetproject/vnet/core/cluster/store"
)

const (
	usersPrefix  = "/auth/users/"
	tokensPrefix = "/auth/tokens/"

	// DefaultCertTTL is how long a user's client certificate is valid.
	DefaultCertTTL = 12 * time.Hour
	// SignupTokenTTL is how long a one-time sign-up token may be redeemed.
	SignupTokenTTL = time.Hour
)

var userNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// User is a person (or the local admin) known to the cluster.
type User struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Created time.Time `json:"created"`
}

type signupToken struct {
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
}

// Service holds users and signs their certificates.
type Service struct {
	store   store.Store // never nil
	ca      *CA         // never nil
	certTTL time.Duration
	now     func() time.Time
}

// NewService returns the Auth Service over st, signing with ca.
func NewService(st store.Store, ca *CA, certTTL time.Duration) (*Service, error) {
	if st == nil || ca == nil {
		return nil, errors.New("auth: store and CA are required")
	}
	if certTTL <= 0 {
		certTTL = DefaultCertTTL
	}
	return &Service{store: st, ca: ca, certTTL: certTTL, now: time.Now}, nil
}

// CA returns the cluster's certificate authority.
func (s *Service) CA() *CA { return s.ca }

// AddUser creates a user and returns a one-time token with which they
// log in for the first time.
func (s *Service) AddUser(ctx context.Context, name string, roles []string) (token string, expires time.Time, err error) {
	if !userNameRE.MatchString(name) {
		return "", time.Time{}, fmt.Errorf("user name %q: use 1-64 lower-case letters, digits, '.', '_', '@' or '-'", name)
	}
	u := User{Name: name, Roles: roles, Created: s.now().UTC()}
	data, _ := json.Marshal(u)
	if err := s.store.Create(ctx, usersPrefix+name, data); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", time.Time{}, fmt.Errorf("user %q already exists", name)
		}
		return "", time.Time{}, fmt.Errorf("store user %q: %w", name, err)
	}
	token, expires, err = s.newSignupToken(ctx, name)
	if err != nil {
		// Leave no user that can never log in.
		_ = s.store.Delete(ctx, usersPrefix+name)
		return "", time.Time{}, err
	}
	return token, expires, nil
}

// EnsureUser creates the user if it does not exist yet (used for the local
// admin identity), without a token.
func (s *Service) EnsureUser(ctx context.Context, name string, roles []string) error {
	data, _ := json.Marshal(User{Name: name, Roles: roles, Created: s.now().UTC()})
	err := s.store.Create(ctx, usersPrefix+name, data)
	if err != nil && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("store user %q: %w", name, err)
	}
	return nil
}

func (s *Service) newSignupToken(ctx context.Context, user string) (string, time.Time, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	token := hex.EncodeToString(raw)
	expires := s.now().Add(SignupTokenTTL).UTC()
	data, _ := json.Marshal(signupToken{User: user, Expires: expires})
	// Only a hash of the token is stored: a copy of the database does not
	// let anyone log in.
	if err := s.store.Create(ctx, tokensPrefix+hashToken(token), data); err != nil {
		return "", time.Time{}, fmt.Errorf("store sign-up token: %w", err)
	}
	return token, expires, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// GetUser returns a stored user.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	data, err := s.store.Get(ctx, usersPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return User{}, ErrUnknownUser
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %q: %w", name, err)
	}
	var u User
	if err := json.Unmarshal(data, &u); err != nil {
		return User{}, fmt.Errorf("stored user %q is damaged: %w", name, err)
	}
	return u, nil
}

// LoginWithToken redeems a one-time token of user and signs a client
// certificate for the public key pubDER (PKIX, DER). Every failure looks
// the same to the caller so that names and tokens cannot be probed.
func (s *Service) LoginWithToken(ctx context.Context, user, token string, pubDER []byte) (certPEM []byte, id Identity, err error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("public key: %w", err)
	}
	key := tokensPrefix + hashToken(token)
	data, err := s.store.Get(ctx, key)
	if err != nil {
		return nil, Identity{}, ErrInvalidLogin
	}
	var t signupToken
	if json.Unmarshal(data, &t) != nil || t.User != user || s.now().After(t.Expires) {
		return nil, Identity{}, ErrInvalidLogin
	}
	// Delete is atomic: of two logins racing with one token, one wins.
	if err := s.store.Delete(ctx, key); err != nil {
		return nil, Identity{}, ErrInvalidLogin
	}
	u, err := s.GetUser(ctx, user)
	if err != nil {
		return nil, Identity{}, ErrInvalidLogin
	}
	id = Identity{User: u.Name, Roles: u.Roles}
	certPEM, err = s.ca.IssueUser(pub, id, s.certTTL)
	return certPEM, id, err
}

// Authenticate checks a presented client certificate chain and that its
// user still exists.
func (s *Service) Authenticate(ctx context.Context, chain []*x509.Certificate) (Identity, error) {
	id, err := s.ca.Verify(chain, s.now())
	if err != nil {
		return Identity{}, err
	}
	if _, err := s.GetUser(ctx, id.User); err != nil {
		return Identity{}, err
	}
	return id, nil
}
