package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/vnet"
)

// runDiag asks the running VNet to check what it depends on and, given a
// name, follows that name from this process as any client would: this
// process's resolver and a TCP connection.
func runDiag(ctx context.Context, args []string) error {
	fs := newFlags("diag")
	fs.String("state-dir", defaultStateDir, "the state directory of the running VNet; unset: this default, or ~/.vnet/state for an engine a 'vnet helper' serves")
	port := fs.Uint("port", 443, "the port to try a TCP connection to NAME on")
	format := fs.String("format", "text", "text or json")
	pos, err := parseArgs(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *port == 0 || *port > 65535 {
		return usagef("diag", "--port %d: use 1 to 65535", *port)
	}
	if err := checkFormat("diag", *format, "text", "json"); err != nil {
		return err
	}
	sock := filepath.Join(controlStateDir(fs), control.SocketName) // controlsock.go
	var d diag.Diagnosis
	if err := getJSON(&d, func() ([]byte, error) { return control.Diag(ctx, sock) }); err != nil {
		return err
	}
	if len(pos) == 1 {
		status := func() vnet.Status {
			var st vnet.Status
			getJSON(&st, func() ([]byte, error) { return control.Get(ctx, sock) })
			return st
		}
		d.Checks = append(d.Checks, diag.Name(ctx, diag.Env{Status: status}, status(), pos[0], uint16(*port))...)
	}
	if *format == "json" {
		if err := writeJSON(d); err != nil {
			return err
		}
	} else {
		fmt.Fprint(stdout, d.Text())
	}
	for _, c := range d.Checks {
		if !c.OK {
			return errors.New("some checks failed")
		}
	}
	return nil
}

// getJSON decodes what fetch returns into v.
func getJSON(v any, fetch func() ([]byte, error)) error {
	data, err := fetch()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("answer from VNet: %w", err)
	}
	return nil
}
