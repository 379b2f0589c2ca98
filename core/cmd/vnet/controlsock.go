package main

import (
	"flag"
	"net"
	"path/filepath"
	"time"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/profile"
)

// Where `vnet status` and `vnet diag` find the running VNet's control
// socket. `sudo vnet up` makes it in its state directory (defaultStateDir
// unless --state-dir); an engine the user runs with a `vnet helper`
// service (no sudo) makes it in the user's own state folder.

// userStateDir is the state folder of an engine that runs as the user:
// its address secret, IPv6 prefix and (without sudo) control socket.
func userStateDir() string { return filepath.Join(profile.Home(), "state") }

// controlStateDir is the state directory whose control socket to ask: the
// --state-dir given (fs holds it as "state-dir"), else the first of the
// default and the user's own whose socket accepts a connection, else the
// default (for the error that says VNet is not running).
func controlStateDir(fs *flag.FlagSet) string {
	dir := fs.Lookup("state-dir").Value.String()
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "state-dir" })
	if given {
		return dir
	}
	for _, d := range []string{dir, userStateDir()} {
		if c, err := net.DialTimeout("unix", filepath.Join(d, control.SocketName), time.Second); err == nil {
			c.Close()
			return d
		}
	}
	return dir
}
