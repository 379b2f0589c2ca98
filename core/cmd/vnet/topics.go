package main

// topic is the help of one command: `vnet PATH --help` prints it with
// the command's flags.
type topic struct {
	use      string   // the synopsis, one line
	about    string   // what it does
	examples []string // command lines a person can copy
}

// topics are the help of every command, by path ("" is vnet itself).
// TestHelp runs each with --help.
var topics = map[string]topic{
	"cluster": {
		use:      "vnet cluster start [--config cluster.yaml] [--rotate-admin] [--debug]",
		about:    "Runs a cluster: Auth, Proxy and App Service in one process.",
		examples: []string{"vnet cluster start --config /etc/vnet/cluster.yaml"},
	},
	"cluster start": {
		use: "vnet cluster start [--config cluster.yaml] [--rotate-admin] [--debug] [--log-format text|json]",
		about: `Runs Auth, Proxy and App Service in the foreground until SIGINT or SIGTERM.
The config is checked before anything is created; the admin identity that
'vnet ctl' uses is written to DATA_DIR/admin at every start.`,
		examples: []string{"vnet cluster start --config /etc/vnet/cluster.yaml", "vnet cluster start --rotate-admin"},
	},
	"agent": {
		use:      "vnet agent start [--config agent.yaml] [--debug]",
		about:    "Runs an App Service agent (see docs/agent.md for agent.yaml).",
		examples: []string{"vnet agent start --config /etc/vnet/agent.yaml"},
	},
	"agent start": {
		use: "vnet agent start [--config agent.yaml] [--debug] [--log-format text|json]",
		about: `Runs an App Service agent: it joins the cluster with its join token on its
first start, then serves its apps through a reverse tunnel to the proxy.
SIGHUP re-reads agent.yaml (see docs/agent.md).`,
		examples: []string{"vnet agent start --config /etc/vnet/agent.yaml", "kill -HUP $(pidof vnet)   # reload agent.yaml"},
	},
	"ctl": {
		use: "vnet ctl [--config cluster.yaml | --identity DIR] create|get|edit|rm|users|audit|status|tokens|agents ...",
		about: `Administers a cluster with the admin identity the cluster daemon writes to
DATA_DIR/admin (found through --config), or the one in --identity.
KIND: app, role, user, vnet_config, trusted_cluster (on a leaf),
remote_cluster (on a root); plural forms work too.`,
		examples: []string{"vnet ctl get apps --format text", "vnet --config /etc/vnet/cluster.yaml ctl users ls", "vnet help ctl get"},
	},
	"ctl create": {
		use:      "vnet ctl create [-f] FILE",
		about:    "Creates a resource from a YAML file (- reads stdin); -f overwrites an existing one.",
		examples: []string{"vnet ctl create role.yaml", "vnet ctl create -f app.yaml", "cat app.yaml | vnet ctl create -"},
	},
	"ctl get": {
		use: "vnet ctl get KIND[/NAME] [--format yaml|json|text]",
		about: `Shows resources: as stored (yaml), as a JSON list (the fields of the YAML), or
as a table (text). Apps from cluster.yaml carry "origin: config".`,
		examples: []string{"vnet ctl get apps --format text", "vnet ctl get role/dev", "vnet ctl get users --format json"},
	},
	"ctl edit": {
		use: "vnet ctl edit KIND[/NAME]",
		about: `Opens a resource in $VISUAL or $EDITOR and saves it through the cluster's
validation, as create does. Apps defined in cluster.yaml are changed there.`,
		examples: []string{"vnet ctl edit role/dev", "EDITOR=nano vnet ctl edit vnet_config"},
	},
	"ctl rm": {
		use:      "vnet ctl rm KIND/NAME",
		about:    "Removes a resource; rm vnet_config resets it to the default. Apps defined in cluster.yaml are removed there.",
		examples: []string{"vnet ctl rm app/db", "vnet ctl rm vnet_config"},
	},
	"ctl users": {
		use:      "vnet ctl users add|ls|rm|reset ...",
		about:    "Adds, lists and removes users, and gives a user a new one-time token.",
		examples: []string{"vnet ctl users add alice --roles=dev", "vnet ctl users ls", "vnet ctl users reset alice"},
	},
	"ctl users add": {
		use:      "vnet ctl users add NAME [--roles=a,b]",
		about:    "Adds a user and prints their one-time sign-up token and the login command.",
		examples: []string{"vnet ctl users add alice --roles=dev,ops"},
	},
	"ctl users ls": {
		use:      "vnet ctl users ls [--format text|json]",
		about:    "Lists users: roles, whether a password is set, when created.",
		examples: []string{"vnet ctl users ls", "vnet ctl users ls --format json"},
	},
	"ctl users rm": {
		use:      "vnet ctl users rm NAME",
		about:    "Removes a user: their certificates stop working at once.",
		examples: []string{"vnet ctl users rm alice"},
	},
	"ctl users reset": {
		use: "vnet ctl users reset NAME",
		about: `Gives a user a new one-time token (a forgotten password): their password is
cleared, and they log in with the token and choose a new one.`,
		examples: []string{"vnet ctl users reset alice"},
	},
	"ctl audit": {
		use: "vnet ctl audit [--since 1h|TIME] [--until TIME] [--user NAME] [--app NAME] [--limit N] [--format text|json]",
		about: `Shows session events: who reached which app, bytes each way, errors.
--format json writes one event per line (see docs/cli.md).`,
		examples: []string{"vnet ctl audit --since 1h", "vnet ctl audit --user alice --app db --format json"},
	},
	"ctl status": {
		use:      "vnet ctl status",
		about:    "Shows the cluster's name, version and CA pin (users pass it to 'vnet login --ca-pin').",
		examples: []string{"vnet ctl status"},
	},
	"ctl tokens": {
		use:      "vnet ctl tokens add|ls ...",
		about:    "Makes and lists join tokens for App Service agents and leaf clusters.",
		examples: []string{"vnet ctl tokens add --type=app --ttl=1h", "vnet ctl tokens ls"},
	},
	"ctl tokens add": {
		use:      "vnet ctl tokens add --type=app|trusted_cluster [--ttl=30m] [--apps=GLOB,...] [--labels=k=v,...] [--zones=a.test,b.test --range=CIDR]",
		about:    "Makes a join token and prints where to put it.",
		examples: []string{"vnet ctl tokens add --type=app --apps='db-*'", "vnet ctl tokens add --type=trusted_cluster --zones=leaf.test --range=100.80.0.0/16"},
	},
	"ctl tokens ls": {
		use:      "vnet ctl tokens ls [--format text|json]",
		about:    "Lists the join tokens that can still be used.",
		examples: []string{"vnet ctl tokens ls", "vnet ctl tokens ls --format json"},
	},
	"ctl agents": {
		use:      "vnet ctl agents ls|rm ...",
		about:    "Lists and removes App Service agents.",
		examples: []string{"vnet ctl agents ls", "vnet ctl agents rm 6c1f0e"},
	},
	"ctl agents ls": {
		use:      "vnet ctl agents ls",
		about:    "Lists App Service agents: host, when joined, connected, apps, limits.",
		examples: []string{"vnet ctl agents ls"},
	},
	"ctl agents rm": {
		use:      "vnet ctl agents rm ID",
		about:    "Removes an agent: its tunnel and its apps end at once.",
		examples: []string{"vnet ctl agents rm 6c1f0e"},
	},
	"login": {
		use: "vnet login --proxy=HOST[:PORT] --user=NAME [--token-file=FILE | --signup | --token=TOKEN] [--new-password-file=FILE] [--password-file=FILE] [--ca-pin=sha256:...]",
		about: `First login, with the one-time token from 'vnet ctl users add': read from the
first line of --token-file, or typed at a terminal with --signup (or --token /
$VNET_TOKEN, which other local users can see while the token is usable). It
sets your password: asked at a terminal, or read from --new-password-file.
Later logins: with the password (asked at a terminal, or read from the first
line of --password-file). --proxy is host, host:port or https://host[:port]
(port 3080 by default).`,
		examples: []string{
			"vnet login --proxy=proxy.example.com --user=alice --token-file=token.txt --ca-pin=sha256:ab12...",
			"vnet login --proxy=proxy.example.com --user=alice",
			"vnet login --proxy=https://proxy.example.com:3080 --user=alice --password-file=pw.txt",
		},
	},
	"logout": {
		use:      "vnet logout [--proxy=HOST[:PORT]]",
		about:    "Removes the login to one cluster (its key and certificate), or to every cluster without --proxy. A running VNet drops the cluster's apps within a few seconds.",
		examples: []string{"vnet logout --proxy=proxy.example.com", "vnet logout"},
	},
	"passwd": {
		use:      "vnet passwd [--proxy=HOST[:PORT]] [--password-file=FILE] [--new-password-file=FILE]",
		about:    "Changes your password at a cluster you are logged in to (the only one, or --proxy).",
		examples: []string{"vnet passwd", "vnet passwd --proxy=proxy.example.com --password-file=old.txt --new-password-file=new.txt"},
	},
	"apps": {
		use: "vnet apps [--format text|json]",
		about: `Lists the TCP apps of every cluster you are logged in to, each at its
address, and why an app cannot be reached by name. Exits 1 when a cluster
could not be asked.`,
		examples: []string{"vnet apps", "vnet apps --format json"},
	},
	"up": {
		use: "sudo vnet up [--tun vnet0] [--dns-mode auto|systemd-resolved|resolv.conf|none] [--mtu 65000] [--state-dir DIR] [--debug] [--log-format text|json]",
		about: `Starts VNet in the foreground until SIGINT or SIGTERM, then undoes every
change it made. Root keeps only the TUN device and the network settings;
the engine, which holds your logins, runs as you (the user who ran sudo),
and only your programs reach VNet's apps. Without sudo, 'vnet up' asks
the vnet-helper service (members of the group vnet). A cluster that does
not answer is retried with back-off. Only one VNet runs at a time.
It says each step on stdout (the TUN device, each cluster's catalog, DNS,
"VNet is up" with the apps, then each change); its log on stderr holds
warnings and errors, every event with --debug, or JSON lines for a log
collector with --log-format json.`,
		examples: []string{"sudo vnet up", "sudo vnet up --dns-mode resolv.conf --debug", "sudo vnet up --log-format json 2>>vnet.log"},
	},
	"helper": {
		use: "vnet helper [--group vnet] [--socket /run/vnet/helper.sock] [--dns-mode auto|systemd-resolved|resolv.conf|none] [--debug] [--log-format text|json]",
		about: `VNet's root helper as a service (packaging/systemd/vnet-helper.socket):
it opens the TUN device for the 'vnet up' of a member of --group, run as
that user, sets the network for that user's traffic only, and undoes it
when that VNet stops. Needs root.`,
		examples: []string{"systemctl enable --now vnet-helper.socket", "sudo vnet helper --group vnet --debug"},
	},
	"down": {
		use: "sudo vnet down [--state-dir DIR]",
		about: `Stops a running VNet, or, when none runs (it crashed), restores the DNS
settings it left behind. It never starts VNet.`,
		examples: []string{"sudo vnet down"},
	},
	"status": {
		use: "vnet status [--state-dir DIR] [--format text|json]",
		about: `Shows what the running VNet serves: its device, DNS, each cluster's state
(connected, or the problem and what to do) and apps. Without a running VNet
it says so, and notices DNS settings a crashed VNet left behind.`,
		examples: []string{"vnet status", "vnet status --format json"},
	},
	"diag": {
		use: "vnet diag [NAME] [--port 443] [--state-dir DIR] [--format text|json]",
		about: `Checks what VNet depends on (device, DNS, logins, clusters) and, given a
name, follows it as any program would: this machine's resolver, then a
TCP connection. Exits 1 when a check fails.`,
		examples: []string{"vnet diag", "vnet diag db.example.com --port 5432", "vnet diag --format json"},
	},
	"version": {
		use:      "vnet version",
		about:    "Prints the version and the commit vnet was built from.",
		examples: []string{"vnet version", "vnet --version"},
	},
	"completion": {
		use:      "vnet completion bash|zsh",
		about:    "Prints a shell completion script for vnet's commands.",
		examples: []string{"source <(vnet completion bash)", "vnet completion zsh > \"${fpath[1]}/_vnet\""},
	},
	"help": {
		use:      "vnet help [COMMAND...]",
		about:    "Shows the help of a command (as COMMAND --help does).",
		examples: []string{"vnet help", "vnet help ctl users add"},
	},
}
