package auth

import (
	"context"
	"fmt"
	"time"
)

// Changing a password and resetting a user (issue 14): `vnet passwd` and
// `vnet ctl users reset`.

// ChangePassword sets user's password to newPassword. The caller proves
// who they are with their certificate (the proxy checks it) and with
// their current password, checked and counted as a login is (source is
// the caller's address): a stolen certificate alone does not change it. A
// user who signed up without a password sets one with oldPassword "".
func (s *Service) ChangePassword(ctx context.Context, user, oldPassword, newPassword, source string) error {
	if err := CheckPassword(newPassword); err != nil {
		return err
	}
	res, err := s.limiter.reserve(s.now(), user, source)
	if err != nil {
		return err
	}
	defer res.release()
	u, err := s.GetUser(ctx, user)
	if err != nil {
		return err
	}
	ok := len(u.PasswordHash) == 0 && oldPassword == ""
	if !ok {
		if ok, err = s.passwordMatches(ctx, u, oldPassword); err != nil {
			return err
		}
	}
	res.settle(ok)
	if !ok {
		return fmt.Errorf("%w: the current password is wrong", ErrInvalidLogin)
	}
	h, err := s.bcrypt.hashPassword(ctx, newPassword)
	if err != nil {
		return err
	}
	_, err = s.updateUser(ctx, user, func(u *User) error {
		u.PasswordHash = h
		return nil
	})
	return err
}

// ResetUser clears name's password and returns a new one-time sign-up
// token, with which they log in and choose a new password (a forgotten
// one). Their roles stay, and so do the certificates issued until now
// ('vnet ctl users rm' ends those).
func (s *Service) ResetUser(ctx context.Context, name string) (token string, expires time.Time, err error) {
	if _, err := s.updateUser(ctx, name, func(u *User) error {
		u.PasswordHash = nil
		return nil
	}); err != nil {
		return "", time.Time{}, err
	}
	s.limiter.forgetUser(name)
	return s.newSignupToken(ctx, name)
}
