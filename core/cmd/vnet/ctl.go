package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/vnetproject/vnet/core/api"
	"github.com/vnetproject/vnet/core/cluster/config"
	"github.com/vnetproject/vnet/core/cluster/daemon"
	"github.com/vnetproject/vnet/core/cluster/resource"
	"github.com/vnetproject/vnet/core/profile"
)

// ctlClient is a connection to the cluster as its administrator. It is
// made at the first call, so that help and usage errors need no config
// and no cluster.
type ctlClient struct {
	conn *lazyConn
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
	fs := newFlags("ctl")
	cfgPath := fs.String("config", envOr("VNET_CLUSTER_CONFIG", config.DefaultPath), "cluster config file (its data_dir holds the admin identity)")
	identity := fs.String("identity", os.Getenv("VNET_IDENTITY"), "admin identity folder (default: DATA_DIR/admin)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp("ctl", fs)
			return errHelpShown
		}
		return usagef("ctl", "%v", err)
	}
	name, rest, err := subcommand("ctl", fs.Args(), slices.Sorted(maps.Keys(ctlCommands)))
	if err != nil {
		return err
	}
	conn := &lazyConn{open: func() (*grpc.ClientConn, error) { return dialAdmin(*cfgPath, *identity) }}
	defer conn.Close()
	return ctlCommands[name](ctx, &ctlClient{conn: conn, api: api.NewClusterClient(conn)}, rest)
}

// dialAdmin connects with the admin identity in dir, or the one of the
// cluster whose config is at cfgPath.
func dialAdmin(cfgPath, dir string) (*grpc.ClientConn, error) {
	if dir == "" {
		dataDir, err := config.DataDir(cfgPath) // not the apps: a file may hold 100,000
		if err != nil {
			return nil, fmt.Errorf("find the admin identity: %w (pass --config or --identity)", err)
		}
		dir = daemon.AdminProfileDir(dataDir)
	}
	p, err := profile.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("admin identity: %w (is the cluster started?)", err)
	}
	if exp, err := p.Expires(); err == nil && time.Now().After(exp) {
		// The running daemon renews it; an expired one is from a daemon
		// that is stopped, or a copy.
		return nil, fmt.Errorf("admin identity in %s expired at %s: start the cluster (it writes a new one at every start and renews it while it runs)", dir, timeText(exp))
	}
	return p.Dial()
}

// lazyConn dials at its first call.
type lazyConn struct {
	open func() (*grpc.ClientConn, error)
	once sync.Once
	conn *grpc.ClientConn // nil until the first call
	err  error
}

func (l *lazyConn) get() (*grpc.ClientConn, error) {
	l.once.Do(func() { l.conn, l.err = l.open() })
	return l.conn, l.err
}

func (l *lazyConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	c, err := l.get()
	if err != nil {
		return err
	}
	return c.Invoke(ctx, method, args, reply, opts...)
}

func (l *lazyConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c, err := l.get()
	if err != nil {
		return nil, err
	}
	return c.NewStream(ctx, desc, method, opts...)
}

// Close closes the connection if one was made.
func (l *lazyConn) Close() error {
	l.once.Do(func() { l.err = errors.New("closed") })
	if l.conn != nil {
		return l.conn.Close()
	}
	return nil
}

// rpcContext bounds one administrative call.
func rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 30*time.Second)
}

func ctlStatus(ctx context.Context, c *ctlClient, args []string) error {
	if err := noArgs(newFlags("ctl status"), args); err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	st, err := c.api.Status(ctx, &api.StatusRequest{})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Cluster  %s\nVersion  %s\nCA pin   %s\n", st.GetClusterName(), st.GetVersion(), st.GetCaPin())
	if st.GetStore() != "" { // older proxies do not say
		fmt.Fprintf(stdout, "Store    %s\nState    %s\n", st.GetStore(), clusterHealth(st))
	}
	return nil
}

// clusterHealth is the State line of 'ctl status': "ok", or "degraded"
// and why. Degraded: the store cannot answer, so the proxy serves what it
// knew (users keep reaching their apps) and refuses every change.
func clusterHealth(st *api.StatusResponse) string {
	if why := st.GetStoreUnavailable(); why != "" {
		return "degraded: " + why + " (serving what it knew; changes are refused until the store is back)"
	}
	return "ok"
}

func ctlCreate(ctx context.Context, c *ctlClient, args []string) error {
	fs := newFlags("ctl create")
	force := fs.Bool("f", false, "overwrite an existing resource")
	fs.BoolVar(force, "force", false, "overwrite an existing resource")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
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

// oneResource reads the arguments of the command whose flags are fs
// about one resource: a name is required except for the one vnet_config.
func oneResource(fs *flag.FlagSet, args []string) (kind, name string, err error) {
	path := fs.Name()
	pos, err := parseArgs(fs, args, 1, 2)
	if err != nil {
		return "", "", err
	}
	kind, name, err = kindAndName(pos)
	if err != nil {
		return "", "", usagef(path, "%v", err)
	}
	if name == "" && kind != resource.KindVNetConfig {
		return "", "", usagef(path, "which %s?", kind)
	}
	return kind, name, nil
}

func ctlGet(ctx context.Context, c *ctlClient, args []string) error {
	fs := newFlags("ctl get")
	format := fs.String("format", "yaml", "yaml, json or text (a table)")
	pos, err := parseArgs(fs, args, 1, 2)
	if err != nil {
		return err
	}
	kind, name, err := kindAndName(pos)
	if err != nil {
		return usagef("ctl get", "%v", err)
	}
	if err := checkFormat("ctl get", *format, "yaml", "json", "text"); err != nil {
		return err
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
	fs := newFlags("ctl rm")
	force := fs.Bool("force", false, "remove an app marked origin: config that no cluster.yaml defines any more")
	kind, name, err := oneResource(fs, args)
	if err != nil {
		return err
	}
	ctx, cancel := rpcContext(ctx)
	defer cancel()
	res, err := c.api.DeleteResource(ctx, &api.DeleteResourceRequest{Kind: kind, Name: name, Force: *force})
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

// errDefinedInConfig is the cluster's refusal to change an app of
// cluster.yaml through the API; edit says it before opening the editor.
var errDefinedInConfig = errors.New("defined in cluster.yaml: change it there")

func ctlUsers(ctx context.Context, c *ctlClient, args []string) error {
	name, rest, err := subcommand("ctl users", args, []string{"add", "ls", "rm", "reset"})
	if err != nil {
		return err
	}
	switch name {
	case "add":
		return ctlUsersAdd(ctx, c, rest)
	case "ls":
		fs := newFlags("ctl users ls")
		format := fs.String("format", "text", "text (a table) or json")
		if err := noArgs(fs, rest); err != nil {
			return err
		}
		if err := checkFormat("ctl users ls", *format, "text", "json"); err != nil {
			return err
		}
		return ctlGet(ctx, c, []string{resource.KindUser, "--format", *format})
	case "reset":
		return ctlUsersReset(ctx, c, rest)
	default:
		pos, err := parseArgs(newFlags("ctl users rm"), rest, 1, 1)
		if err != nil {
			return err
		}
		return ctlRemove(ctx, c, []string{resource.KindUser, pos[0]})
	}
}

func ctlUsersAdd(ctx context.Context, c *ctlClient, args []string) error {
	fs := newFlags("ctl users add")
	roles := fs.String("roles", "", "comma-separated roles")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
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
command (it asks them to choose a password at a terminal; without one,
add --new-password-file=FILE):

  vnet login --proxy=%s --user=%s --token-file=FILE --ca-pin=%s

or, at a terminal, with --signup instead of --token-file to type the token in.
Avoid --token=...: a command line is visible to other local users.
`, timeText(time.Unix(expiresUnix, 0)), token, ping.GetProxyPublicAddr(), user, st.GetCaPin())
	return nil
}
