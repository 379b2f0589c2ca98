package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vnetproject/vnet/core/profile"
)

// runLogout removes profiles.
func runLogout(_ context.Context, args []string) error {
	fs := newFlags("logout")
	proxyFlag := fs.String("proxy", "", "the cluster's proxy address: host, host:port or https://host[:port] (default: every cluster)")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	home := profile.Home()
	var targets []string
	if *proxyFlag != "" {
		addr, err := proxyAddr(*proxyFlag)
		if err != nil {
			return usagef("logout", "%v", err)
		}
		targets = []string{addr}
	} else {
		ps, err := profile.LoadAll(home)
		if errors.Is(err, profile.ErrNoProfiles) {
			return errors.New("not logged in to any cluster")
		}
		if err != nil {
			return err
		}
		for _, p := range ps {
			targets = append(targets, p.ProxyAddr)
		}
	}
	for _, addr := range targets {
		if err := profile.Remove(home, addr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Logged out of %s.\n", addr)
	}
	return nil
}
