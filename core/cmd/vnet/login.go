package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vnetproject/vnet/core/capin"
	"github.com/vnetproject/vnet/core/cluster/auth"
	"github.com/vnetproject/vnet/core/profile"
)

// loginFlags are the ways a user proves who they are.
type loginFlags struct {
	token, tokenFile string // the one-time token, or the file holding it
	signup           bool   // ask for the one-time token at a terminal
	newPasswordFile  string
	noPassword       bool // sign up without a password (scripts, tests)
	passwordFile     string
}

func runLogin(ctx context.Context, args []string) error {
	fs := newFlags("login")
	proxyFlag := fs.String("proxy", "", "the cluster's proxy address: host, host:port or https://host[:port] (port 3080 by default)")
	userName := fs.String("user", "", "your user name")
	var lf loginFlags
	fs.StringVar(&lf.token, "token", "", "one-time token from 'vnet ctl users add' (default $VNET_TOKEN); prefer --token-file or --signup: a command line is visible to other local users")
	fs.StringVar(&lf.tokenFile, "token-file", "", "first login: read the one-time token from this file's first line")
	fs.BoolVar(&lf.signup, "signup", false, "first login: type the one-time token at a terminal")
	fs.StringVar(&lf.newPasswordFile, "new-password-file", "", "first login: set the password in this file's first line")
	fs.BoolVar(&lf.noPassword, "no-password", false, "first login: set no password (each later login then needs a new token from your administrator)")
	fs.StringVar(&lf.passwordFile, "password-file", "", "log in with the password in this file's first line")
	pin := fs.String("ca-pin", "", "expected CA fingerprint (sha256:...) as 'vnet ctl status' prints it")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if lf.token == "" && lf.tokenFile == "" && !lf.signup {
		lf.token = os.Getenv("VNET_TOKEN")
	}
	if *proxyFlag == "" || *userName == "" {
		return usagef("login", "--proxy and --user are required")
	}
	addr, err := proxyAddr(*proxyFlag)
	if err != nil {
		return usagef("login", "%v", err)
	}
	proxyAddr := &addr
	cred, err := loginCredentials(lf, *userName, *proxyAddr)
	if err != nil {
		return err
	}
	// A cluster logged in to before is trusted by the CA saved then: no
	// question, and a different CA is refused.
	pinned := "as --ca-pin says"
	if *pin == "" {
		pinned = "you trusted it"
		if old, err := profile.Load(profile.Dir(profile.Home(), *proxyAddr)); err == nil {
			if b, _ := pem.Decode(old.CAPEM); b != nil {
				if ca, err := x509.ParseCertificate(b.Bytes); err == nil {
					*pin, pinned = capin.Of(ca), "the CA of your last login"
				}
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	// Each step for the person at the terminal, as it is done.
	fmt.Fprintf(stdout, "Contacting the proxy at %s...\n", *proxyAddr)
	p, err := profile.LoginWith(ctx, *proxyAddr, *userName, cred, func(got string) error {
		if err := acceptPin(got, *pin, *proxyAddr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "CA pinned: %s (%s).\n", got, pinned)
		return nil
	})
	if err != nil {
		return err
	}
	how := "your password"
	if cred.Token != "" {
		how = "your one-time token"
	}
	fmt.Fprintf(stdout, "Signed in as %s (roles: %s) with %s.\n", p.User, strings.Join(p.Roles, ","), how)
	if err := profile.Save(profile.Home(), p); err != nil {
		return err
	}
	exp, _ := p.Expires()
	fmt.Fprintf(stdout, "Certificate valid until %s, saved in %s.\n", timeText(exp), profile.Dir(profile.Home(), p.ProxyAddr))
	fmt.Fprintf(stdout, "Logged in to %s as %s.\n", p.ClusterName, p.User)
	if cred.NewPassword != "" {
		fmt.Fprintf(stdout, "Password set: next time, log in with 'vnet login --proxy=%s --user=%s'.\n", *proxyAddr, *userName)
	}
	return nil
}

// loginCredentials gathers what the user proves themselves with: the
// token (and, if they choose one, a new password), or their password.
func loginCredentials(lf loginFlags, user, proxyAddr string) (profile.Credentials, error) {
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	token, err := signupToken(lf, interactive)
	if err != nil {
		return profile.Credentials{}, err
	}
	switch {
	case token != "" && lf.passwordFile != "":
		return profile.Credentials{}, errors.New("a token and --password-file do not go together: the token is for the first login, the password for later ones")
	case token != "":
		cred := profile.Credentials{Token: token}
		var err error
		switch {
		case lf.newPasswordFile != "" && lf.noPassword:
			err = errors.New("--new-password-file and --no-password: choose one")
		case lf.newPasswordFile != "":
			cred.NewPassword, err = readPasswordFile(lf.newPasswordFile)
		case lf.noPassword:
		case interactive:
			cred.NewPassword, err = askNewPassword()
		default:
			// Signing up without a password would go unnoticed until the
			// next login fails.
			err = errors.New("a first login sets your password and there is no terminal to ask for it: pass --new-password-file=FILE (or --no-password)")
		}
		if err == nil && cred.NewPassword != "" {
			err = auth.CheckPassword(cred.NewPassword)
		}
		return cred, err
	case lf.noPassword:
		return profile.Credentials{}, errors.New("--no-password is for a first login, with a token")
	case lf.newPasswordFile != "":
		return profile.Credentials{}, errors.New("--new-password-file needs a token (--token-file or --signup): a password is set at sign-up (to change it: vnet passwd)")
	case lf.passwordFile != "":
		pw, err := readPasswordFile(lf.passwordFile)
		return profile.Credentials{Password: pw}, err
	case interactive:
		pw, err := askPassword(fmt.Sprintf("Password for %s at %s: ", user, proxyAddr))
		return profile.Credentials{Password: pw}, err
	default:
		return profile.Credentials{}, errors.New("no terminal to ask for a password: pass --password-file, or --token-file for a first login")
	}
}

// signupToken returns the one-time token from the one place lf names, or
// "" for a login with a password.
func signupToken(lf loginFlags, interactive bool) (string, error) {
	n := 0
	for _, set := range []bool{lf.token != "", lf.tokenFile != "", lf.signup} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return "", errors.New("--token, --token-file and --signup are three ways to give the one-time token: use one")
	case lf.tokenFile != "":
		token, err := readPasswordFile(lf.tokenFile)
		return strings.TrimSpace(token), err
	case lf.signup && !interactive:
		return "", errors.New("--signup asks for the token at a terminal and there is none: pass --token-file")
	case lf.signup:
		token, err := askPassword("One-time token from your administrator: ")
		if err == nil && strings.TrimSpace(token) == "" {
			err = errors.New("no token given")
		}
		return strings.TrimSpace(token), err
	}
	return lf.token, nil
}

// readPasswordFile returns the first line of path (a password or a
// token).
func readPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	pw := strings.TrimSuffix(string(line), "\r")
	if pw == "" {
		return "", fmt.Errorf("%s: the first line is empty", path)
	}
	return pw, nil
}

func askPassword(prompt string) (string, error) {
	fmt.Fprint(os.Stderr, prompt)
	pw, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return string(pw), nil
}

// askNewPassword asks for a password twice; empty means none.
func askNewPassword() (string, error) {
	for {
		pw, err := askPassword(fmt.Sprintf("Choose a password for later logins (at least %d characters; empty: none): ", auth.MinPasswordLen))
		if err != nil || pw == "" {
			return "", err
		}
		if err := auth.CheckPassword(pw); err != nil {
			fmt.Fprintln(os.Stderr, err)
			continue
		}
		again, err := askPassword("Repeat it: ")
		if err != nil {
			return "", err
		}
		if again == pw {
			return pw, nil
		}
		fmt.Fprintln(os.Stderr, "The two do not match; again.")
	}
}

// acceptPin decides whether to trust a CA seen for the first time: it must
// match --ca-pin, or a person at a terminal must say yes.
func acceptPin(got, want, proxyAddr string) error {
	if want != "" {
		if !strings.EqualFold(got, want) {
			return fmt.Errorf("the cluster's CA pin is %s, not the expected %s: do not log in", got, want)
		}
		return nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return fmt.Errorf("first login to %s: its CA pin is %s; check it with your administrator ('vnet ctl status') and pass --ca-pin", proxyAddr, got)
	}
	fmt.Fprintf(os.Stderr, "The cluster at %s has CA pin %s.\nTrust it? Compare with 'vnet ctl status' on the cluster. [y/N] ", proxyAddr, got)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	if strings.TrimSpace(strings.ToLower(line)) != "y" {
		return errors.New("CA not trusted")
	}
	return nil
}
