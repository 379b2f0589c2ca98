package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vnetproject/vnet/core/control"
	"github.com/vnetproject/vnet/core/diag"
	"github.com/vnetproject/vnet/core/vnet"
)

// runDiag asks the running VNet to check what it depends on and, given a
// name, follows that name from this process as any client would: this
// process's resolver and a TCP connection.
func runDiag(ctx context.Context, args []string) error {
	fs := newFlags("diag", "vnet diag [NAME] [--port 443] [--state-dir DIR] [--format text|json]")
	stateDir := fs.String("state-dir", "/var/lib/vnet/client", "the state directory of the running VNet")
	port := fs.Uint("port", 443, "the port to try a TCP connection to NAME on")
	format := fs.String("format", "text", "text or json")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || *port == 0 || *port > 65535 {
		return errors.New("usage: vnet diag [NAME] [--port 1-65535]")
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("--format %q: use text or json", *format)
	}
	sock := filepath.Join(*stateDir, control.SocketName)
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
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else {
		fmt.Print(d.Text())
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
