package main

import (
	"bufio"
	"bytes"
	"context"

	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/term"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/resource"
)

// ctlEdit fetches one resource as YAML, opens it in $VISUAL or $EDITOR
// (vi by default) and saves it through the cluster, which validates it
// as for create. An unchanged file changes nothing. When the cluster
// refuses the file, its one-line error is printed and, at a terminal, the
// editor opens again on the same file; otherwise the file is kept and its
// path printed for another try.
func ctlEdit(ctx context.Context, c *ctlClient, args []string) error {
	kind, name, err := oneResource(newFlags("ctl edit"), args)
	if err != nil {
		return err
	}
	orig, err := fetchForEdit(ctx, c, kind, name)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "vnet-edit-*.yaml")
	if err != nil {
		return err
	}
	path := f.Name()
	_, err = f.Write(orig)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	for {
		if err := runEditor(ctx, path); err != nil {
			os.Remove(path)
			return err
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Equal(edited, orig) {
			os.Remove(path)
			fmt.Fprintln(stdout, "no changes")
			return nil
		}
		res, err := saveEdit(ctx, c, kind, name, edited)
		if err == nil {
			os.Remove(path)
			fmt.Fprintf(stdout, "%s has been updated\n", describeResource(res.GetKind(), res.GetName()))
			return nil
		}
		if !term.IsTerminal(int(os.Stdin.Fd())) {
			return fmt.Errorf("%s; your changes are kept in %s: fix them and run 'vnet ctl create -f %s'", oneLine(err), path, path)
		}
		fmt.Fprintf(os.Stderr, "ERROR: %s\nEdit again? (n keeps your changes in %s) [Y/n] ", oneLine(err), path)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.TrimSpace(strings.ToLower(line)); a == "n" || a == "no" {
			return fmt.Errorf("not saved; your changes are kept in %s", path)
		}
	}
}

// fetchForEdit returns the resource as the YAML a person edits: a user's
// or a remote_cluster's read-only status is left out.
func fetchForEdit(ctx context.Context, c *ctlClient, kind, name string) ([]byte, error) {
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.GetResources(ctx, &api.GetResourcesRequest{Kind: kind, Name: name})
	if err != nil {
		return nil, err
	}
	if len(res.GetYaml()) != 1 {
		return nil, fmt.Errorf("the cluster sent %d resources for %s, want 1", len(res.GetYaml()), describeResource(kind, name))
	}
	r, err := resource.Parse(res.GetYaml()[0])
	if err != nil {
		return nil, fmt.Errorf("the cluster sent a resource this vnet cannot read: %w", err)
	}
	switch r := r.(type) {
	case *resource.App:
		if r.Metadata.Origin == resource.OriginConfig {
			return nil, fmt.Errorf("app %q is %w", name, errDefinedInConfig)
		}
	case *resource.User:
		r.Status = nil
	case *resource.RemoteCluster:
		r.Status = nil
	}
	return resource.Marshal(r)
}

// saveEdit writes the edited resource, which must keep its kind and name:
// renaming through edit would leave the old one behind.
func saveEdit(ctx context.Context, c *ctlClient, kind, name string, data []byte) (*api.CreateResourceResponse, error) {
	r, err := resource.Parse(data)
	if err != nil {
		return nil, err
	}
	if r.Kind() != kind || (name != "" && r.Name() != name) {
		return nil, fmt.Errorf("edit cannot turn %s into %s: use 'vnet ctl create' for a new resource", describeResource(kind, name), describeResource(r.Kind(), r.Name()))
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	return c.api.CreateResource(ctx, &api.CreateResourceRequest{Yaml: data, Force: true})
}

// runEditor opens path in the user's editor. $VISUAL or $EDITOR may carry
// arguments ("code --wait"), so the shell runs it.
func runEditor(ctx context.Context, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", editor+` "$1"`, "sh", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q: %w", editor, err)
	}
	return nil
}

func describeResource(kind, name string) string {
	if kind == resource.KindVNetConfig || name == "" {
		return kind
	}
	return fmt.Sprintf("%s %q", kind, name)
}
