package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/profile"
)

const ctlUsage = `vnet ctl [--config FILE | --identity DIR] COMMAND
  create [-f] FILE                       create a resource (-f: overwrite); FILE - reads stdin
  get KIND[/NAME] [--format yaml|json|text]
  edit KIND[/NAME]                       edit in $EDITOR; saved through the cluster's validation
  rm KIND/NAME                           remove (rm vnet_config resets it to the default)
  users add NAME [--roles=a,b] | users ls | users rm NAME
  audit [--since 1h] [--until TIME] [--user NAME] [--app NAME] [--limit N] [--format text|json]
  status
  tokens add --type=app|trusted_cluster [--ttl=30m] [--apps=GLOB,...] [--labels=k=v,...] [--zones=a.test,b.test --range=CIDR] | tokens ls
  agents ls | agents rm ID               App Service agents; rm cuts the agent and its apps at once
KIND: ` + "app, role, user, vnet_config, trusted_cluster (on a leaf), remote_cluster (on a root; plural forms work too)"

// stdout is where ctl writes its results; tests replace it.
var stdout io.Writer = os.Stdout

// ctlClient is a connection to the cluster as its administrator.
type ctlClient struct {
	conn grpc.ClientConnInterface
	api  api.ClusterClient
}

// ctlCommands are the subcommands of vnet ctl.
var ctlCommands = map[string]func(ctx context.Context, c *ctlClient, args []string) error{
	"create": ctlCreate,
	"get":    ctlGet,
	"edit":   ctlEdit,
	"rm":     ctlRemove,
	"users":  ctlUsers,
	"audit":  ctlAudit,
	"status": ctlStatus,
	"tokens": ctlTokens,
	"agents": ctlAgents,
}

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
	cmd, ok := ctlCommands[args[0]]
	if !ok {
		return fmt.Errorf("unknown ctl command %q; usage: %s", args[0], ctlUsage)
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
	if exp, err := p.Expires(); err == nil && time.Now().After(exp) {
		// The running daemon renews it; an expired one is from a daemon
		// that is stopped, or a copy.
		return fmt.Errorf("admin identity in %s expired at %s: start the cluster (it writes a new one at every start and renews it while it runs)", dir, exp.Local().Format(time.RFC3339))
	}
	conn, err := p.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	return cmd(ctx, &ctlClient{conn: conn, api: api.NewClusterClient(conn)}, args[1:])
}

// rpcContext bounds one administrative call.
func rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

func ctlStatus(ctx context.Context, c *ctlClient, args []string) error {
	if len(args) != 0 {
		return errors.New("usage: vnet ctl status")
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	st, err := c.api.Status(ctx, &api.StatusRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Cluster  %s\nVersion  %s\nCA pin   %s\n", st.GetClusterName(), st.GetVersion(), st.GetCaPin())
	return nil
}

func ctlCreate(ctx context.Context, c *ctlClient, args []string) error {
	const use = "usage: vnet ctl create [-f] FILE"
	fs := newFlags("ctl create", use)
	force := fs.Bool("f", false, "overwrite an existing resource")
	fs.BoolVar(force, "force", false, "overwrite an existing resource")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(use)
	}
	var data []byte
	if pos[0] == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, resource.MaxSize+1))
	} else {
		data, err = os.ReadFile(pos[0])
	}
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.CreateResource(ctx, &api.CreateResourceRequest{Yaml: data, Force: *force})
	if err != nil {
		return err
	}
	verb := "created"
	if !res.GetCreated() {
		verb = "updated"
	}
	if res.GetKind() == resource.KindVNetConfig {
		fmt.Fprintf(stdout, "%s has been %s\n", res.GetKind(), verb)
	} else {
		fmt.Fprintf(stdout, "%s %q has been %s\n", res.GetKind(), res.GetName(), verb)
	}
	if res.GetSignupToken() != "" {
		return printSignup(ctx, c, res.GetName(), res.GetSignupToken(), res.GetSignupTokenExpiresUnix())
	}
	return nil
}

// kindAndName reads KIND, KIND/NAME or KIND NAME; plural kinds ("apps",
// "roles") read as singular.
func kindAndName(args []string) (kind, name string, err error) {
	if len(args) < 1 || len(args) > 2 {
		return "", "", errors.New("expected KIND[/NAME]")
	}
	kind, name, _ = strings.Cut(args[0], "/")
	if len(args) == 2 {
		if name != "" {
			return "", "", fmt.Errorf("name given twice: %q and %q", name, args[1])
		}
		name = args[1]
	}
	if !resource.IsKind(kind) {
		if k := strings.TrimSuffix(kind, "s"); resource.IsKind(k) {
			kind = k
		}
	}
	if !resource.IsKind(kind) {
		return "", "", fmt.Errorf("unknown kind %q (one of %s)", kind, strings.Join(resource.Kinds(), ", "))
	}
	return kind, name, nil
}

// oneResource is kindAndName for commands about one resource: a name is
// required except for the one vnet_config.
func oneResource(args []string, use string) (kind, name string, err error) {
	kind, name, err = kindAndName(args)
	if err != nil {
		return "", "", fmt.Errorf("%v; %s", err, use)
	}
	if name == "" && kind != resource.KindVNetConfig {
		return "", "", fmt.Errorf("which %s? %s", kind, use)
	}
	return kind, name, nil
}

func ctlGet(ctx context.Context, c *ctlClient, args []string) error {
	const use = "usage: vnet ctl get KIND[/NAME] [--format yaml|json|text]"
	fs := newFlags("ctl get", use)
	format := fs.String("format", "yaml", "yaml, json or text (a table)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	kind, name, err := kindAndName(pos)
	if err != nil {
		return fmt.Errorf("%v; %s", err, use)
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.GetResources(ctx, &api.GetResourcesRequest{Kind: kind, Name: name})
	if err != nil {
		return err
	}
	if err := writeResources(stdout, kind, res.GetYaml(), *format); err != nil {
		return err
	}
	return writeRefused(stdout, os.Stderr, res.GetRefused(), *format)
}

// writeRefused prints the agents' refused claims after the apps: a
// section of the table, YAML comments (the output still parses), or on
// errOut for JSON.
func writeRefused(out, errOut io.Writer, lines []string, format string) error {
	if len(lines) == 0 {
		return nil
	}
	prefix := "refused: "
	switch format {
	case "text":
		fmt.Fprintln(out, "\nREFUSED CLAIMS")
		prefix = ""
	case "json":
		out = errOut
	default:
		prefix = "# refused: "
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(out, prefix+l); err != nil {
			return err
		}
	}
	return nil
}

func ctlRemove(ctx context.Context, c *ctlClient, args []string) error {
	kind, name, err := oneResource(args, "usage: vnet ctl rm KIND/NAME (or rm vnet_config)")
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.DeleteResource(ctx, &api.DeleteResourceRequest{Kind: kind, Name: name})
	if err != nil {
		return err
	}
	switch {
	case kind == resource.KindVNetConfig:
		fmt.Fprintln(stdout, "vnet_config has been reset to the default")
	case res.GetSessionsClosed() > 0:
		fmt.Fprintf(stdout, "%s %q has been removed; %d open connection(s) closed\n", kind, name, res.GetSessionsClosed())
	default:
		fmt.Fprintf(stdout, "%s %q has been removed\n", kind, name)
	}
	return nil
}

func ctlUsers(ctx context.Context, c *ctlClient, args []string) error {
	const use = "usage: vnet ctl users add NAME [--roles=a,b] | users ls | users rm NAME"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "add":
		return ctlUsersAdd(ctx, c, args[1:])
	case "ls", "list":
		if len(args) != 1 {
			return errors.New(use)
		}
		return ctlGet(ctx, c, []string{resource.KindUser, "--format", "text"})
	case "rm", "remove":
		if len(args) != 2 {
			return errors.New(use)
		}
		return ctlRemove(ctx, c, []string{resource.KindUser, args[1]})
	default:
		return fmt.Errorf("unknown users command %q; %s", args[0], use)
	}
}

func ctlUsersAdd(ctx context.Context, c *ctlClient, args []string) error {
	const use = "usage: vnet ctl users add NAME [--roles=a,b]"
	fs := newFlags("ctl users add", use)
	roles := fs.String("roles", "", "comma-separated roles")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New(use)
	}
	var rs []string
	for _, r := range strings.Split(*roles, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rs = append(rs, r)
		}
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.AddUser(ctx, &api.AddUserRequest{Name: pos[0], Roles: rs})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "User %q has been created.\n", pos[0])
	return printSignup(ctx, c, pos[0], res.GetToken(), res.GetTokenExpiresUnix())
}

// printSignup prints the one-time token and the command a new user logs
// in with. The command reads the token from a file: a token on a command
// line is visible to every local user (ps, /proc) while it is usable.
func printSignup(ctx context.Context, c *ctlClient, user, token string, expiresUnix int64) error {
	st, err := c.api.Status(ctx, &api.StatusRequest{})
	if err != nil {
		return err
	}
	ping, err := api.NewAuthClient(c.conn).Ping(ctx, &api.PingRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, `Their one-time sign-up token, valid once until %s:

  token: %s

Send it to them privately. They save it in a file and log in with this
command (it asks them to choose a password at a terminal):

  vnet login --proxy=%s --user=%s --token-file=FILE --ca-pin=%s

or, at a terminal, with --signup instead of --token-file to type the token in.
Avoid --token=...: a command line is visible to other local users.
`, time.Unix(expiresUnix, 0).UTC().Format(time.RFC3339), token, ping.GetProxyPublicAddr(), user, st.GetCaPin())
	return nil
}
