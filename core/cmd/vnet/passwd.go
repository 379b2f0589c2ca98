package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/profile"
)

// runPasswd changes the user's password at a cluster they are logged in
// to; their login (certificate) says who they are, the current password
// proves it is them.
func runPasswd(ctx context.Context, args []string) error {
	fs := newFlags("passwd")
	proxyFlag := fs.String("proxy", "", "the cluster's proxy address (default: the one cluster you are logged in to)")
	oldFile := fs.String("password-file", "", "read the current password from this file's first line")
	newFile := fs.String("new-password-file", "", "read the new password from this file's first line")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	p, err := loginFor(*proxyFlag)
	if err != nil {
		return err
	}
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	var oldPW, newPW string
	switch {
	case *oldFile != "":
		oldPW, err = readPasswordFile(*oldFile)
	case interactive:
		oldPW, err = askPassword(fmt.Sprintf("Current password for %s at %s (empty if you have none): ", p.User, p.ProxyAddr))
	default:
		err = errors.New("no terminal to ask for your current password: pass --password-file=FILE")
	}
	if err != nil {
		return err
	}
	switch {
	case *newFile != "":
		newPW, err = readPasswordFile(*newFile)
	case interactive:
		newPW, err = askNewPassword()
		if err == nil && newPW == "" {
			err = errors.New("no new password given: nothing changed")
		}
	default:
		err = errors.New("no terminal to ask for the new password: pass --new-password-file=FILE")
	}
	if err == nil {
		err = auth.CheckPassword(newPW)
	}
	if err != nil {
		return err
	}
	conn, err := p.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := api.NewAccountClient(conn).ChangePassword(ctx, &api.ChangePasswordRequest{OldPassword: oldPW, NewPassword: newPW}); err != nil {
		return fmt.Errorf("change the password at %s: %w", p.ProxyAddr, err)
	}
	fmt.Fprintf(stdout, "Password changed for %s at %s.\n", p.User, p.ProxyAddr)
	return nil
}

// loginFor is the login to the cluster at proxy (as --proxy gives it), or
// the only login when proxy is "".
func loginFor(proxy string) (*profile.Profile, error) {
	home := profile.Home()
	if proxy != "" {
		addr, err := proxyAddr(proxy)
		if err != nil {
			return nil, err
		}
		p, err := profile.Load(profile.Dir(home, addr))
		if err != nil {
			return nil, fmt.Errorf("not logged in to %s: log in first (vnet login --proxy=%s)", addr, proxy)
		}
		return p, nil
	}
	ps, err := profile.LoadAll(home)
	if errors.Is(err, profile.ErrNoProfiles) {
		return nil, errors.New("not logged in to any cluster: log in first (vnet login)")
	}
	if err != nil {
		return nil, err
	}
	if len(ps) > 1 {
		return nil, fmt.Errorf("logged in to %d clusters: say which with --proxy", len(ps))
	}
	return ps[0], nil
}

// ctlUsersReset clears a user's password and prints a new one-time
// token for them.
func ctlUsersReset(ctx context.Context, c *ctlClient, args []string) error {
	pos, err := parseArgs(newFlags("ctl users reset"), args, 1, 1)
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := api.NewAccountClient(c.conn).ResetUser(ctx, &api.ResetUserRequest{Name: pos[0]})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "User %q has been reset: their password is cleared; their roles and current logins stay.\n", pos[0])
	return printSignup(ctx, c, pos[0], res.GetToken(), res.GetTokenExpiresUnix())
}
