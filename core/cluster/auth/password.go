package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"
	"time"
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

// Limits on the other fields of a login, checked before anything else is
// done with them. A user name is at most 64 bytes (resource.CheckUserName);
// a sign-up token is 32 hex digits; a public key in PKIX DER is a few
// hundred bytes even for RSA-4096.
const (
	MaxUserNameLen  = 64
	MaxTokenLen     = 128
	MaxPublicKeyLen = 4096
)

// checkLoginRequest returns one line saying which field of a login is too
// long, or nil. It does not echo the field: it comes from anyone.
func checkLoginRequest(user, token, password, newPassword string, pubDER []byte) error {
	for _, f := range []struct {
		what     string
		len, max int
	}{
		{"user name", len(user), MaxUserNameLen},
		{"token", len(token), MaxTokenLen},
		{"password", len(password), MaxPasswordLen},
		{"new password", len(newPassword), MaxPasswordLen},
		{"public key", len(pubDER), MaxPublicKeyLen},
	} {
		if f.len > f.max {
			return fmt.Errorf("%s is too long (%d bytes, at most %d)", f.what, f.len, f.max)
		}
	}
	return nil
}

// ErrLoginBusy: the proxy is checking as many passwords as it may at once
// and the caller waited long enough for a turn.
var ErrLoginBusy = errors.New("the cluster is checking too many logins at once: try again in a moment")

// bcryptPool bounds the bcrypt work one proxy does at once: each hash or
// comparison costs tens of milliseconds of CPU, and a flood of logins
// must not starve everything else. Callers over the bound wait their turn
// up to maxWait (or their context), then get ErrLoginBusy.
type bcryptPool struct {
	slots   chan struct{} // one token per bcrypt call in flight; never nil
	maxWait time.Duration
	// compare and generate are bcrypt's; tests count or hold the calls.
	compare  func(hash, password []byte) error
	generate func(password []byte, cost int) ([]byte, error)
}

func newBcryptPool(n int) *bcryptPool {
	return &bcryptPool{
		slots:    make(chan struct{}, n),
		maxWait:  10 * time.Second,
		compare:  bcrypt.CompareHashAndPassword,
		generate: bcrypt.GenerateFromPassword,
	}
}

// defaultBcryptSlots leaves the other cores to the proxy's data path on a
// big machine and still runs two logins at once on a small one.
func defaultBcryptSlots() int { return max(2, runtime.GOMAXPROCS(0)/2) }

func (p *bcryptPool) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ErrLoginBusy
	case <-t.C:
		return ErrLoginBusy
	}
}

func (p *bcryptPool) release() { <-p.slots }

// compareHash checks password against hash in a bcrypt slot.
func (p *bcryptPool) compareHash(ctx context.Context, hash []byte, password string) (match bool, err error) {
	if err := p.acquire(ctx); err != nil {
		return false, err
	}
	defer p.release()
	return p.compare(hash, []byte(password)) == nil, nil
}

// hashPassword checks password and hashes it in a bcrypt slot.
func (p *bcryptPool) hashPassword(ctx context.Context, password string) ([]byte, error) {
	if err := CheckPassword(password); err != nil {
		return nil, err
	}
	if err := p.acquire(ctx); err != nil {
		return nil, err
	}
	defer p.release()
	h, err := p.generate([]byte(password), bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

// LoginWithPassword checks user's password and signs a client certificate
// for pubDER (PKIX, DER). Logins are limited per user and source address
// (the caller's IP) and per user overall; the attempt is counted before
// the password is checked, and over the limit it returns an error matching
// ErrTooManyLogins without checking it. A wrong password, an unknown user
// and a user without a password all fail with ErrInvalidLogin.
func (s *Service) LoginWithPassword(ctx context.Context, user, password string, pubDER []byte, source string) ([]byte, Identity, error) {
	if err := checkLoginRequest(user, "", password, "", pubDER); err != nil {
		return nil, Identity{}, err
	}
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, Identity{}, fmt.Errorf("public key: %w", err)
	}
	res, err := s.limiter.reserve(s.now(), user, source)
	if err != nil {
		return nil, Identity{}, err
	}
	defer res.release() // if nothing settled it: no password was checked
	u, err := s.GetUser(ctx, user)
	if err != nil && !errors.Is(err, ErrUnknownUser) {
		return nil, Identity{}, err
	}
	ok, err := s.passwordMatches(ctx, u, password)
	if err != nil {
		return nil, Identity{}, err
	}
	res.settle(ok)
	if !ok {
		return nil, Identity{}, ErrInvalidLogin
	}
	return s.issue(pub, u)
}

// passwordMatches reports whether password is u's. A user without a
// password (or unknown: u is zero) is compared with a dummy hash, so that
// the answer takes as long and names cannot be probed.
func (s *Service) passwordMatches(ctx context.Context, u User, password string) (bool, error) {
	hash := u.PasswordHash
	if len(hash) == 0 {
		hash = dummyHash
	}
	match, err := s.bcrypt.compareHash(ctx, hash, password)
	return match && len(u.PasswordHash) > 0, err
}
