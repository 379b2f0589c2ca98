package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/profile"
)

const ctlUsage = "vnet ctl [--config FILE | --identity DIR] create [-f] FILE | get KIND [NAME] | users add NAME [--roles=a,b] | status"

// runCtl administers a cluster with the admin identity that the cluster
// daemon writes into its data directory, as tctl does on the Auth host.
func runCtl(ctx context.Context, args []string) error {
	fs := newFlags("ctl", ctlUsage)
	cfgPath := fs.String("config", envOr("VNET_CLUSTER_CONFIG", config.DefaultPath), "cluster config file (its data_dir holds the admin identity)")
	identity := fs.String("identity", os.Getenv("VNET_IDENTITY"), "admin identity folder (default: DATA_DIR/admin)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	if len(args) == 0 {
		return fmt.Errorf("usage: %s", ctlUsage)
	}
	dir := *identity
	if dir == "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return fmt.Errorf("find the admin identity: %w (pass --config or --identity)", err)
		}
		dir = daemon.AdminProfileDir(cfg.DataDir)
	}
	p, err := profile.Load(dir)
	if err != nil {
		return fmt.Errorf("admin identity: %w (is the cluster started?)", err)
	}
	conn, err := p.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	c := api.NewClusterClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	switch args[0] {
	case "create":
		return ctlCreate(ctx, c, args[1:])
	case "get":
		return ctlGet(ctx, c, args[1:])
	case "users":
		return ctlUsers(ctx, conn, args[1:])
	case "status":
		st, err := c.Status(ctx, &api.StatusRequest{})
		if err != nil {
			return err
		}
		fmt.Printf("Cluster  %s\nVersion  %s\nCA pin   %s\n", st.GetClusterName(), st.GetVersion(), st.GetCaPin())
		return nil
	default:
		return fmt.Errorf("unknown ctl command %q; usage: %s", args[0], ctlUsage)
	}
}

func ctlCreate(ctx context.Context, c api.ClusterClient, args []string) error {
	fs := newFlags("ctl create", "vnet ctl create [-f] FILE")
	force := fs.Bool("f", false, "overwrite an existing resource")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: vnet ctl create [-f] FILE")
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	res, err := c.CreateResource(ctx, &api.CreateResourceRequest{Yaml: data, Force: *force})
	if err != nil {
		return err
	}
	verb := "created"
	if !res.GetCreated() {
		verb = "updated"
	}
	if res.GetKind() == "vnet_config" {
		fmt.Printf("%s has been %s\n", res.GetKind(), verb)
	} else {
		fmt.Printf("%s %q has been %s\n", res.GetKind(), res.GetName(), verb)
	}
	return nil
}

func ctlGet(ctx context.Context, c api.ClusterClient, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return errors.New("usage: vnet ctl get KIND [NAME]  (KIND/NAME works too)")
	}
	kind, name, _ := strings.Cut(args[0], "/")
	if len(args) == 2 {
		name = args[1]
	}
	kind = strings.TrimSuffix(kind, "s") // "apps" reads as "app"
	res, err := c.GetResources(ctx, &api.GetResourcesRequest{Kind: kind, Name: name})
	if err != nil {
		return err
	}
	fmt.Print(string(bytes.Join(res.GetYaml(), []byte("---\n"))))
	return nil
}

func ctlUsers(ctx context.Context, conn grpc.ClientConnInterface, args []string) error {
	c := api.NewClusterClient(conn)
	if len(args) < 2 || args[0] != "add" {
		return errors.New("usage: vnet ctl users add NAME [--roles=a,b]")
	}
	fs := newFlags("ctl users add", "vnet ctl users add NAME [--roles=a,b]")
	roles := fs.String("roles", "", "comma-separated roles")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: vnet ctl users add NAME [--roles=a,b]")
	}
	var rs []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	res, err := c.AddUser(ctx, &api.AddUserRequest{Name: pos[0], Roles: rs})
	if err != nil {
		return err
	}
	st, err := c.Status(ctx, &api.StatusRequest{})
	if err != nil {
		return err
	}
	ping, err := api.NewAuthClient(conn).Ping(ctx, &api.PingRequest{})
	if err != nil {
		return err
	}
	fmt.Printf("User %q has been created. The token below is valid once, until %s.\nShare this command with them:\n\n  vnet login --proxy=%s --user=%s --token=%s --ca-pin=%s\n",
		pos[0], time.Unix(res.GetTokenExpiresUnix(), 0).UTC().Format(time.RFC3339), ping.GetProxyPublicAddr(), pos[0], res.GetToken(), st.GetCaPin())
	return nil
}
