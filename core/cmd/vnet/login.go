package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/vnetproject/vnet/core/profile"
)

func runLogin(ctx context.Context, args []string) error {
	fs := newFlags("login", "vnet login --proxy=HOST:PORT --user=NAME --token=TOKEN [--ca-pin=sha256:...]")
	proxyAddr := fs.String("proxy", "", "the cluster's proxy address, host:port")
	userName := fs.String("user", "", "your user name")
	token := fs.String("token", os.Getenv("VNET_TOKEN"), "one-time token from 'vnet ctl users add'")
	pin := fs.String("ca-pin", "", "expected CA fingerprint (sha256:...) as 'vnet ctl status' prints it")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}
	if *proxyAddr == "" || *userName == "" {
		return errors.New("--proxy and --user are required")
	}
	if _, _, err := net.SplitHostPort(*proxyAddr); err != nil {
		*proxyAddr = net.JoinHostPort(*proxyAddr, "3080")
	}
	if *token == "" {
		return errors.New("--token is required: ask your administrator for 'vnet ctl users add' (password login is not available yet)")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	p, err := profile.Login(ctx, *proxyAddr, *userName, *token, func(got string) error { return acceptPin(got, *pin, *proxyAddr) })
	if err != nil {
		return err
	}
	if err := profile.Save(profile.Home(), p); err != nil {
		return err
	}
	exp, _ := p.Expires()
	fmt.Printf("Logged in to %s as %s (roles: %s), valid until %s.\n", p.ClusterName, p.User, strings.Join(p.Roles, ","), exp.Local().Format(time.RFC1123))
	return nil
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
