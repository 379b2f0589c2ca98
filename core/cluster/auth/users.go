package auth

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/vnetproject/vnet/core/cluster/resource"
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

// User is a person (or the local admin) known to the cluster.
type User struct {
	Name    string    `json:"name"`
	Roles   []string  `json:"roles"`
	Created time.Time `json:"created"`
	// Generation is made when the record is created and carried by every
	// certificate issued to the user: a user of the same name created
	// after this one was removed does not accept this one's certificates.
	// Empty in a record from before generations.
	Generation string `json:"generation,omitempty"`
	// PasswordHash is bcrypt's; empty until the user sets a password.
	PasswordHash []byte `json:"password_hash,omitempty"`
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
	// machineTTL is how long agents' and leaves' certificates are valid
	// (SetMachineCertTTL).
	machineTTL time.Duration
	now        func() time.Time
	limiter    *loginLimiter // never nil
	bcrypt     *bcryptPool   // never nil
	// newAgentID is randomAgentID; a test makes IDs repeat.
	newAgentID func() string
	// authUsers: what Authenticate needs of users, decoded once per
	// stored version (usercache.go).
	authUsers authCache
}

// NewService returns the Auth Service over st, signing with ca.
func NewService(st store.Store, ca *CA, certTTL time.Duration) (*Service, error) {
	if st == nil || ca == nil {
		return nil, errors.New("auth: store and CA are required")
	}
	if certTTL <= 0 {
		certTTL = DefaultCertTTL
	}
	return &Service{store: st, ca: ca, certTTL: certTTL, machineTTL: DefaultMachineCertTTL, now: time.Now, limiter: newLoginLimiter(), bcrypt: newBcryptPool(defaultBcryptSlots()), newAgentID: randomAgentID}, nil
}

// CA returns the cluster's certificate authority.
func (s *Service) CA() *CA { return s.ca }

// AddUser creates a user and returns a one-time token with which they
// log in for the first time.
func (s *Service) AddUser(ctx context.Context, name string, roles []string) (token string, expires time.Time, err error) {
	if err := resource.CheckUserName(name); err != nil {
		return "", time.Time{}, err
	}
	roles, err = resource.NormalizeRoleNames(roles)
	if err != nil {
		return "", time.Time{}, err
	}
	u := User{Name: name, Roles: roles, Created: s.now().UTC(), Generation: NewGeneration()}
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
// admin identity), without a token, and returns the stored user. A user
// stored before generations gets one: the certificates issued to it
// before stop working, so the caller issues a new one (IssueFor).
func (s *Service) EnsureUser(ctx context.Context, name string, roles []string) (User, error) {
	u := User{Name: name, Roles: roles, Created: s.now().UTC(), Generation: NewGeneration()}
	data, _ := json.Marshal(u)
	err := s.store.Create(ctx, usersPrefix+name, data)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, store.ErrExists) {
		return User{}, fmt.Errorf("store user %q: %w", name, err)
	}
	return s.updateUser(ctx, name, func(u *User) error {
		if u.Generation == "" {
			u.Generation = NewGeneration()
		}
		return nil
	})
}

// RotateUser gives the user name a new record generation: every
// certificate issued to them until now stops working at its next call
// (a leaked admin identity, say), and the user keeps their roles and
// password. It returns the stored user, for IssueFor.
func (s *Service) RotateUser(ctx context.Context, name string) (User, error) {
	return s.updateUser(ctx, name, func(u *User) error {
		u.Generation = NewGeneration()
		return nil
	})
}

// IssueFor signs a certificate for pub, valid for ttl, bound to the
// stored user u (as EnsureUser or GetUser return it): it works while u's
// record lives, with the roles the record has at each call.
func (s *Service) IssueFor(pub crypto.PublicKey, u User, ttl time.Duration) ([]byte, error) {
	return s.ca.IssueUser(pub, Identity{User: u.Name, Roles: u.Roles, Generation: u.Generation}, ttl)
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
	data, err := s.storedUser(ctx, name)
	if err != nil {
		return User{}, err
	}
	return decodeUser(name, data)
}

// decodeUser reads the stored record data of the user called name.
func decodeUser(name string, data []byte) (User, error) {
	var u User
	if err := json.Unmarshal(data, &u); err != nil {
		return User{}, fmt.Errorf("stored user %q is damaged: %w", name, err)
	}
	return u, nil
}

// storedUser is the record of the user called name as stored, or
// ErrUnknownUser.
func (s *Service) storedUser(ctx context.Context, name string) ([]byte, error) {
	data, err := s.store.Get(ctx, usersPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("load user %q: %w", name, err)
	}
	return data, nil
}

// LoginWithToken redeems a one-time token of user and signs a client
// certificate for the public key pubDER (PKIX, DER). A non-empty
// newPassword becomes the user's password; it is checked before the token
// is spent, so a weak one does not cost the token. The attempt is counted
// (source is the caller's address) and the token checked before the new
// password is hashed: nothing costly happens for a caller without a valid
// token. Every other failure looks the same to the caller so that names
// and tokens cannot be probed.
func (s *Service) LoginWithToken(ctx context.Context, user, token, newPassword string, pubDER []byte, source string) (certPEM []byte, id Identity, err error) {
	if err := checkLoginRequest(user, token, "", newPassword, pubDER); err != nil {
		return nil, Identity{}, err
	}
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("public key: %w", err)
	}
	if newPassword != "" {
		if err := CheckPassword(newPassword); err != nil {
			return nil, Identity{}, err
		}
	}
	res, err := s.limiter.reserve(s.now(), user, source)
	if err != nil {
		return nil, Identity{}, err
	}
	defer res.release() // if nothing settled it: the token was not checked
	key, ok := s.validToken(ctx, user, token)
	if !ok {
		res.settle(false)
		return nil, Identity{}, ErrInvalidLogin
	}
	var hash []byte
	if newPassword != "" {
		if hash, err = s.bcrypt.hashPassword(ctx, newPassword); err != nil {
			return nil, Identity{}, err // the token is not spent: try again
		}
	}
	// Delete is atomic: of two logins racing with one token, one wins.
	if err := s.store.Delete(ctx, key); err != nil {
		res.settle(false)
		return nil, Identity{}, ErrInvalidLogin
	}
	res.settle(true)
	u, err := s.GetUser(ctx, user)
	if err != nil {
		return nil, Identity{}, ErrInvalidLogin
	}
	if hash != nil {
		if u, err = s.updateUser(ctx, user, func(u *User) error { u.PasswordHash = hash; return nil }); err != nil {
			return nil, Identity{}, fmt.Errorf("set password: %w", err)
		}
	}
	return s.issue(pub, u)
}

// validToken returns the store key of user's unexpired one-time token, or
// false; it does not spend it.
func (s *Service) validToken(ctx context.Context, user, token string) (key string, ok bool) {
	key = tokensPrefix + hashToken(token)
	data, err := s.store.Get(ctx, key)
	if err != nil {
		return "", false
	}
	var t signupToken
	if json.Unmarshal(data, &t) != nil || t.User != user || s.now().After(t.Expires) {
		return "", false
	}
	return key, true
}

// issue signs a certificate for pub carrying u's name, roles and
// generation. A u read before a concurrent remove and re-create gets a
// certificate of the removed record, which Authenticate refuses.
func (s *Service) issue(pub crypto.PublicKey, u User) ([]byte, Identity, error) {
	id := Identity{User: u.Name, Roles: u.Roles, Generation: u.Generation}
	certPEM, err := s.ca.IssueUser(pub, id, s.certTTL)
	return certPEM, id, err
}

// Authenticate checks a presented client certificate chain and that the
// user record it was issued for still exists: the same name is not
// enough, the record's generation must match the certificate's. The chain
// is checked once per TLS connection if ctx carries the connection's
// ConnVerified; the expiry and the record on every call.
func (s *Service) Authenticate(ctx context.Context, chain []*x509.Certificate) (Identity, error) {
	id, err := s.ca.verify(ctx, chain, s.now())
	if err != nil {
		return Identity{}, err
	}
	data, err := s.storedUser(ctx, id.User)
	if err != nil {
		return Identity{}, err
	}
	generation, roles, err := s.authUsers.user(id.User, data)
	if err != nil {
		return Identity{}, err
	}
	if !bound(generation, id.Generation) {
		return Identity{}, fmt.Errorf("%w: user %q was removed and created again since; run 'vnet login' again", ErrRevoked, id.User)
	}
	// The stored roles, not the certificate's: a change of a user's roles
	// takes effect at their next call.
	id.Roles = roles
	return id, nil
}

// ListUsers returns every user, sorted by name.
func (s *Service) ListUsers(ctx context.Context) ([]User, error) {
	items, err := s.store.List(ctx, usersPrefix)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out := make([]User, 0, len(items))
	for _, it := range items {
		var u User
		if err := json.Unmarshal(it.Value, &u); err != nil {
			return nil, fmt.Errorf("stored user %s is damaged: %w", it.Key, err)
		}
		out = append(out, u)
	}
	return out, nil
}

// SetRoles replaces a user's roles. It takes effect at the user's next
// call: Authenticate reads the stored roles.
func (s *Service) SetRoles(ctx context.Context, name string, roles []string) error {
	roles, err := resource.NormalizeRoleNames(roles)
	if err != nil {
		return err
	}
	if name == BuiltinAdmin && !slices.Contains(roles, RoleAdmin) {
		return fmt.Errorf("user %q is the built-in administrator that 'vnet ctl' uses: it keeps the %s role", name, RoleAdmin)
	}
	_, err = s.updateUser(ctx, name, func(u *User) error { u.Roles = roles; return nil })
	return err
}

// RemoveUser deletes a user and their unused sign-up tokens. Their
// certificates stop working at once and for good: Authenticate checks on
// every call that the record they were issued for (its generation, not
// just the name) exists.
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	if name == BuiltinAdmin {
		return fmt.Errorf("user %q is the built-in administrator that 'vnet ctl' uses and cannot be removed", name)
	}
	if err := s.store.Delete(ctx, usersPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("user %q: %w", name, ErrNoSuchResource)
		}
		return fmt.Errorf("remove user %q: %w", name, err)
	}
	items, err := s.store.List(ctx, tokensPrefix)
	if err != nil {
		return fmt.Errorf("remove sign-up tokens of %q: %w", name, err)
	}
	for _, it := range items {
		var t signupToken
		if json.Unmarshal(it.Value, &t) == nil && t.User == name {
			if err := s.store.Delete(ctx, it.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("remove sign-up token of %q: %w", name, err)
			}
		}
	}
	s.limiter.forgetUser(name) // a new user of that name starts afresh
	return nil
}

// updateUser applies change to the stored user atomically (retrying if
// another writer got there first) and returns the result.
func (s *Service) updateUser(ctx context.Context, name string, change func(*User) error) (User, error) {
	for {
		old, err := s.store.Get(ctx, usersPrefix+name)
		if errors.Is(err, store.ErrNotFound) {
			return User{}, fmt.Errorf("user %q: %w", name, ErrNoSuchResource)
		}
		if err != nil {
			return User{}, fmt.Errorf("load user %q: %w", name, err)
		}
		var u User
		if err := json.Unmarshal(old, &u); err != nil {
			return User{}, fmt.Errorf("stored user %q is damaged: %w", name, err)
		}
		if err := change(&u); err != nil {
			return User{}, err
		}
		data, _ := json.Marshal(u)
		err = s.store.CompareAndSwap(ctx, usersPrefix+name, old, data)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return User{}, fmt.Errorf("user %q: %w", name, ErrNoSuchResource)
		}
		if err != nil {
			return User{}, fmt.Errorf("store user %q: %w", name, err)
		}
		return u, nil
	}
}

// CertTTL is how long the certificates this service issues to users are
// valid.
func (s *Service) CertTTL() time.Duration { return s.certTTL }
