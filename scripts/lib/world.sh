# shellcheck shell=bash
# A small world in network namespaces for the demo and the end-to-end tests:
#
#   cluster namespace (vnc-ID)                 user namespace (vnu-ID)
#   ┌──────────────────────────────┐  veth    ┌─────────────────────────────┐
#   │ vnet cluster start  :3080    │──────────│ vnet up  (TUN vnet0)        │
#   │ dnsmasq (test upstream) :53  │192.0.2.1 │ curl, dig, getent (glibc)   │
#   │ nginx (the app) 127.0.0.1:8080│  .2     │ resolv.conf -> VNet's DNS   │
#   └──────────────────────────────┘          └─────────────────────────────┘
#
# The namespaces have no route anywhere else: every address used here
# (192.0.2.0/24 is TEST-NET-1, 100.64.0.0/10 is VNet's range) exists only
# inside them. Everything started is recorded and removed by world_down, which
# runs on exit, also after a failure.
#
# Source this file, then call world_up; it sets:
#   WORLD_ID, NS_CLUSTER, NS_USER, WORK (temp dir), VNET (binary), PROXY
#   CA_PIN, and helpers in_cluster / in_user to run commands in a namespace.

set -euo pipefail
# sudo's secure_path usually leaves out Go's default install folder.
command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORLD_ID=${WORLD_ID:-$$}
NS_CLUSTER=vnc-$WORLD_ID
NS_USER=vnu-$WORLD_ID
VETH_C=vnc${WORLD_ID}
VETH_U=vnu${WORLD_ID}
CLUSTER_IP=192.0.2.1
USER_IP=192.0.2.2
PROXY=proxy.vnet.test:3080
APP_PORT=8080
WORK=""
VNET=""
PIDS=()

log() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() {
	echo "FAIL: $*" >&2
	exit 1
}

in_cluster() { ip netns exec "$NS_CLUSTER" "$@"; }
in_user() { ip netns exec "$NS_USER" env VNET_HOME="$WORK/home" "$@"; }

# bg NAME NS CMD...: start CMD in the background inside namespace NS,
# logging to $WORK/NAME.log; its PID (the command's own: ip netns exec and
# env exec it) is recorded and left in BG_PID.
bg() {
	local name=$1 ns=$2
	shift 2
	# Emptied here, before the fork: the background job's own redirection
	# may run after the caller's first wait_for, which would then find the
	# last run's "VNet is up" in the old log.
	: >"$WORK/$name.log"
	ip netns exec "$ns" env VNET_HOME="$WORK/home" "$@" >>"$WORK/$name.log" 2>&1 &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# wait_for DESCRIPTION CMD...: poll CMD until it succeeds (30 s at most).
wait_for() {
	local what=$1
	shift
	for _ in $(seq 300); do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.1
	done
	die "timed out waiting for $what"
}

world_down() {
	local rc=$?
	set +e
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -TERM "${PIDS[$i]}" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	# Anything else still running inside our namespaces (by namespace, so
	# nothing outside is touched).
	for ns in "$NS_USER" "$NS_CLUSTER"; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
		rm -rf "/etc/netns/$ns"
	done
	if [ $rc -ne 0 ] && [ -n "$WORK" ]; then
		for f in "$WORK"/*.log; do
			[ -f "$f" ] || continue
			echo "---- $(basename "$f") (last 40 lines)"
			tail -n 40 "$f"
		done
	fi
	[ -n "$WORK" ] && rm -rf "$WORK"
	return $rc
}

world_up() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, a TUN device): run with sudo"
	"$REPO/scripts/deps.sh"
	trap world_down EXIT
	trap 'exit 130' INT TERM
	WORK=$(mktemp -d /tmp/vnet-world.XXXXXX)
	mkdir -p "$WORK/home" "$WORK/bin"
	chmod 755 "$WORK"

	log "building vnet"
	(cd "$REPO" && go build -o "$WORK/bin/vnet" ./core/cmd/vnet)
	VNET=$WORK/bin/vnet

	log "creating namespaces $NS_CLUSTER and $NS_USER joined by a veth (no route out)"
	ip netns add "$NS_CLUSTER"
	ip netns add "$NS_USER"
	ip link add "$VETH_C" type veth peer name "$VETH_U"
	ip link set "$VETH_C" netns "$NS_CLUSTER"
	ip link set "$VETH_U" netns "$NS_USER"
	in_cluster ip link set lo up
	in_user ip link set lo up
	in_cluster ip addr add "$CLUSTER_IP/24" dev "$VETH_C"
	in_user ip addr add "$USER_IP/24" dev "$VETH_U"
	in_cluster ip link set "$VETH_C" up
	in_user ip link set "$VETH_U" up

	# The user namespace's own resolver configuration: the test upstream.
	# `ip netns exec` bind-mounts it over /etc/resolv.conf.
	mkdir -p "/etc/netns/$NS_USER" "/etc/netns/$NS_CLUSTER"
	echo "nameserver $CLUSTER_IP" >"/etc/netns/$NS_USER/resolv.conf"
	echo "nameserver 127.0.0.1" >"/etc/netns/$NS_CLUSTER/resolv.conf"

	log "starting the test upstream DNS server (dnsmasq) at $CLUSTER_IP:53"
	: >"$WORK/hosts" # more names: add_host
	bg dnsmasq "$NS_CLUSTER" dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
		--bind-interfaces --listen-address="$CLUSTER_IP" --listen-address=127.0.0.1 --user=root \
		--pid-file="$WORK/dnsmasq.pid" --local=/test/ --addn-hosts="$WORK/hosts" \
		--host-record="${PROXY%%:*},$CLUSTER_IP" \
		--host-record=only-upstream.test,192.0.2.50 \
		--host-record=tcp-app.evilcompany.test,192.0.2.51
	DNSMASQ_PID=$BG_PID
	wait_for "dnsmasq" in_cluster dig +time=1 +tries=1 @"$CLUSTER_IP" only-upstream.test

	log "starting the app: nginx on 127.0.0.1:$APP_PORT inside the cluster namespace"
	mkdir -p "$WORK/www"
	echo "hello from tcp-app" >"$WORK/www/index.html"
	head -c 4194304 /dev/urandom >"$WORK/www/big.bin"
	cat >"$WORK/nginx.conf" <<-EOF
		daemon off;
		pid $WORK/nginx.pid;
		error_log $WORK/nginx-error.log;
		events {}
		http {
		  access_log off;
		  server {
		    listen 127.0.0.1:$APP_PORT;
		    root $WORK/www;
		  }
		}
	EOF
	bg nginx "$NS_CLUSTER" nginx -c "$WORK/nginx.conf" -p "$WORK"
	wait_for "nginx" in_cluster curl -sf "http://127.0.0.1:$APP_PORT/"

	# WORLD_NO_CLUSTER=1: the caller starts its own (the quick start's test).
	[ -z "${WORLD_NO_CLUSTER:-}" ] || return 0
	log "starting the cluster: vnet cluster start (Auth + Proxy + App Service)"
	cat >"$WORK/cluster.yaml" <<-EOF
		version: v1
		cluster_name: vnet.test
		data_dir: $WORK/cluster-data
		proxy_service:
		  listen_addr: $CLUSTER_IP:3080
		  public_addr: $PROXY
		  metrics_addr: 127.0.0.1:9090
		app_service:
		  enabled: true
		  apps:
		    - name: tcp-app
		      uri: tcp://127.0.0.1:$APP_PORT
		      public_addr: tcp-app.company.test
		      labels: {env: dev}
		    - name: down-app
		      uri: tcp://127.0.0.1:9
		      public_addr: down-app.company.test
	EOF
	export VNET_CLUSTER_CONFIG=$WORK/cluster.yaml
	bg cluster "$NS_CLUSTER" "$VNET" cluster start --config "$WORK/cluster.yaml"
	wait_for "the cluster" in_cluster "$VNET" ctl status
	CA_PIN=$(in_cluster "$VNET" ctl status | awk '/CA pin/ {print $3}')
}

# start_postgres NS DIR LISTEN: a fresh PostgreSQL (trust auth, user
# postgres) in namespace NS with its data in DIR, listening on port 5432 of
# the comma-separated addresses LISTEN; waits until it accepts connections.
start_postgres() {
	local ns=$1 dir=$2 listen=$3 bin
	bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	mkdir -p "$dir/data" "$dir/sock"
	chown postgres: "$dir/data" "$dir/sock"
	ip netns exec "$ns" runuser -u postgres -- "$bin/initdb" -D "$dir/data" --auth=trust -U postgres >"$dir/initdb.log" 2>&1
	# initdb trusts loopback only; the namespace's own subnets too (the veth).
	echo "host all all samenet trust" >>"$dir/data/pg_hba.conf"
	bg "postgres-$(basename "$dir")" "$ns" runuser -u postgres -- "$bin/postgres" -D "$dir/data" -k "$dir/sock" \
		-c listen_addresses="$listen" -p 5432
	wait_for "PostgreSQL in $ns" ip netns exec "$ns" "$bin/pg_isready" -h "${listen%%,*}" -p 5432
}

# start_redis NS ADDR...: a Redis without persistence in namespace NS on
# port 6379 of ADDR...; waits until it answers. Protected mode is off so that
# a non-loopback ADDR answers too: nothing outside the namespaces reaches it.
start_redis() {
	local ns=$1
	shift
	bg "redis-$ns" "$ns" redis-server --port 6379 --bind "$*" --protected-mode no --save '' --appendonly no
	wait_for "Redis in $ns" ip netns exec "$ns" redis-cli -h "$1" -p 6379 ping
}

# ctl ARGS...: run `vnet ctl` on the cluster host.
ctl() { in_cluster "$VNET" ctl "$@"; }

# signup_token: the one-time token in `vnet ctl users add`'s output (stdin).
signup_token() { awk '$1 == "token:" {print $2}'; }

# vnet_up [FLAGS...]: start `vnet up` in the user namespace and wait until it serves.
vnet_up() {
	bg vnet-up "$NS_USER" "$VNET" up --state-dir "$WORK/state" "$@"
	VNET_UP_PID=$BG_PID
	wait_for "vnet up" grep -q "VNet is up" "$WORK/vnet-up.log"
}

# vnet_down: stop `vnet up` with SIGTERM and wait for it to exit.
vnet_down() {
	local pid=$VNET_UP_PID
	kill -TERM "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	die "vnet up did not stop on SIGTERM"
}

# add_host NAME IP: the test upstream answers NAME with IP from now on.
add_host() {
	echo "$2 $1" >>"$WORK/hosts"
	kill -HUP "$DNSMASQ_PID"
	# shellcheck disable=SC2317 # called through wait_for
	host_known() { [ "$(in_cluster dig +short +time=1 +tries=1 @"$CLUSTER_IP" "$1")" = "$2" ]; }
	wait_for "dnsmasq to answer $1" host_known "$1" "$2"
}

# web_app NAME PORT TEXT: nginx in the cluster namespace serving TEXT at
# http://127.0.0.1:PORT/.
web_app() {
	local name=$1 port=$2 text=$3
	mkdir -p "$WORK/www-$name"
	echo "$text" >"$WORK/www-$name/index.html"
	cat >"$WORK/nginx-$name.conf" <<-EOF
		daemon off;
		pid $WORK/nginx-$name.pid;
		error_log $WORK/nginx-$name-error.log;
		events {}
		http {
		  access_log off;
		  server {
		    listen 127.0.0.1:$port;
		    root $WORK/www-$name;
		  }
		}
	EOF
	bg "nginx-$name" "$NS_CLUSTER" nginx -c "$WORK/nginx-$name.conf" -p "$WORK"
	wait_for "nginx $name" in_cluster curl -sf "http://127.0.0.1:$port/"
}

# extra_cluster NAME HOST PORT APP APP_PORT APP_ADDR: another cluster daemon
# in the cluster namespace, called NAME, with its proxy at $CLUSTER_IP:PORT
# known to the upstream as HOST, its own data directory, and one app APP
# (tcp://127.0.0.1:APP_PORT at APP_ADDR). Its config is
# $WORK/NAME/cluster.yaml (for ctl_in); start_cluster NAME starts it (again).
extra_cluster() {
	local name=$1 host=$2 port=$3 app=$4 app_port=$5 app_addr=$6
	mkdir -p "$WORK/$name"
	cat >"$WORK/$name/cluster.yaml" <<-EOF
		version: v1
		cluster_name: $name
		data_dir: $WORK/$name/data
		proxy_service:
		  listen_addr: $CLUSTER_IP:$port
		  public_addr: $host:$port
		app_service:
		  enabled: true
		  apps:
		    - name: $app
		      uri: tcp://127.0.0.1:$app_port
		      public_addr: $app_addr
	EOF
	add_host "$host" "$CLUSTER_IP"
	start_cluster "$name"
}

# start_cluster NAME: start (or restart) the extra cluster NAME; its PID is
# left in CLUSTER_PID.
start_cluster() {
	bg "cluster-$1" "$NS_CLUSTER" "$VNET" cluster start --config "$WORK/$1/cluster.yaml"
	CLUSTER_PID=$BG_PID
	wait_for "cluster $1" ctl_in "$1" status
}

# ctl_in NAME ARGS...: `vnet ctl` of the extra cluster NAME.
ctl_in() {
	local name=$1
	shift
	in_cluster "$VNET" ctl --config "$WORK/$name/cluster.yaml" "$@"
}

# vnet_config_yaml [RANGE] ZONE...: a vnet_config resource on stdout; RANGE
# (an IPv4 CIDR) is optional, each ZONE a custom_dns_zones suffix.
vnet_config_yaml() {
	printf 'kind: vnet_config\nversion: v1\nmetadata:\n  name: vnet-config\nspec:\n'
	if [[ "${1:-}" == */* ]]; then
		printf '  ipv4_cidr_range: "%s"\n' "$1"
		shift
	fi
	[ $# -eq 0 ] && return
	printf '  custom_dns_zones:\n'
	printf '    - suffix: %s\n' "$@"
}
