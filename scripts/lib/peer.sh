# shellcheck shell=bash
# The peer that scripts/bench.sh measures VNet against: tailscaled's gVisor
# netstack on a TUN with offloads, without WireGuard, login or control
# server. With TS_DEBUG_NETSTACK_LOOPBACK_PORT=PORT, tailscaled takes TCP
# to 100.100.100.100:PORT from its TUN into its netstack and dials
# 127.0.0.1:PORT, so a client and a server in tailscaled's namespace talk
# through exactly the engine VNet competes with.
#
#   peer namespace (vnt-ID): client -> TUN ts0 -> tailscaled netstack -> 127.0.0.1:PORT server
#
# tailscaled runs in its own network namespace and its own mount namespace
# (unshare -m) with a private resolv.conf and /var/lib/tailscale bind-mounted,
# so it changes nothing on the machine. One loopback port per process:
# peer_start PORT restarts it. Source after world.sh; call peer_up first.

PEER_VERSION=v1.102.5
PEER_BIN_DIR=${PEER_BIN_DIR:-${HOME:-/root}/.cache/vnet-bench/bin}
PEER_BIN=$PEER_BIN_DIR/tailscaled
NS_PEER=vnt-$WORLD_ID
PEER_TUN=ts0
PEER_IP=100.100.100.100
PEER_PID=""
PEER_MISSING="" # why there is no peer, if there is none
PEER_RSS_PEAK=0 # KiB, the highest VmHWM of any tailscaled this run
PEER_MADE_VARLIB=""

in_peer() { ip netns exec "$NS_PEER" "$@"; }

# peer_install: tailscaled in PEER_BIN_DIR (built once, then cached), or
# PEER_MISSING says why not.
peer_install() {
	[ -x "$PEER_BIN" ] && return 0
	log "installing tailscaled $PEER_VERSION into $PEER_BIN_DIR (once)"
	mkdir -p "$PEER_BIN_DIR"
	if ! (cd /tmp && GOBIN=$PEER_BIN_DIR GOFLAGS=-mod=mod go install "tailscale.com/cmd/tailscaled@$PEER_VERSION") >"$WORK/peer-install.log" 2>&1; then
		PEER_MISSING="go install tailscale.com/cmd/tailscaled@$PEER_VERSION failed: $(tail -n 1 "$WORK/peer-install.log")"
		return 1
	fi
}

# peer_up: the peer's namespace, or PEER_MISSING.
peer_up() {
	[ "${BENCH_PEER:-1}" = 0 ] && PEER_MISSING="left out (BENCH_PEER=0)"
	[ -z "$PEER_MISSING" ] && peer_install || { echo "  no peer: $PEER_MISSING" >&2; return 0; }
	ip netns add "$NS_PEER"
	in_peer ip link set lo up
	# The mount point for tailscaled's private state directory.
	if [ ! -d /var/lib/tailscale ]; then
		mkdir -p /var/lib/tailscale
		PEER_MADE_VARLIB=1
	fi
	echo "nameserver 127.0.0.1" >"$WORK/peer-resolv.conf"
}

# peer_start PORT: a fresh tailscaled looping 100.100.100.100:PORT to the
# namespace's 127.0.0.1:PORT; waits until a connection gets through.
peer_start() {
	local port=$1 dir=$WORK/peer-$1
	[ -z "$PEER_MISSING" ] || return 1
	peer_stop
	mkdir -p "$dir/state" "$dir/varlib"
	# shellcheck disable=SC2016 # expanded by the inner shell
	ip netns exec "$NS_PEER" env TS_DEBUG_NETSTACK_LOOPBACK_PORT="$port" \
		unshare -m --propagation private sh -c '
			mount --bind "$1" /etc/resolv.conf && mount --bind "$2" /var/lib/tailscale &&
			exec "$3" --tun="$4" --state=mem: --statedir="$5" --socket="$5/tailscaled.sock" --no-logs-no-support --port=0' \
		sh "$WORK/peer-resolv.conf" "$dir/varlib" "$PEER_BIN" "$PEER_TUN" "$dir/state" >"$WORK/tailscaled-$port.log" 2>&1 &
	PEER_PID=$!
	PIDS+=("$PEER_PID")
	if ! poll in_peer ip link show "$PEER_TUN"; then
		PEER_MISSING="tailscaled made no TUN (see tailscaled-$port.log)"
		return 1
	fi
	# tailscaled clears "stale" addresses in 100.64.0.0/10 from its TUN
	# while it starts, possibly after we added ours: (re)add until a
	# connection gets through.
	if ! poll peer_link "$port"; then
		PEER_MISSING="tailscaled did not loop $PEER_IP:$port back (see tailscaled-$port.log)"
		return 1
	fi
}

# peer_link PORT: the TUN's address and route in place, and a connection to
# 100.100.100.100:PORT through it.
peer_link() {
	in_peer ip addr replace 100.64.0.1/32 dev "$PEER_TUN" &&
		in_peer ip link set "$PEER_TUN" up &&
		in_peer ip route replace "$PEER_IP/32" dev "$PEER_TUN" &&
		in_peer timeout 2 bash -c "exec 3<>/dev/tcp/$PEER_IP/$1"
}

# poll CMD...: whether CMD succeeds within 60 s (like wait_for, without
# ending the run: the bench goes on without the peer).
poll() {
	for _ in $(seq 600); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# peer_stop: stop the running tailscaled, by PID, after checking that the
# PID is still tailscaled; then anything named tailscaled left in the
# peer's namespace (and only there).
peer_stop() {
	local pid=$PEER_PID hwm
	PEER_PID=""
	if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = tailscaled ]; then
		hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		if [ "${hwm:-0}" -gt "$PEER_RSS_PEAK" ]; then PEER_RSS_PEAK=$hwm; fi
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	ip netns list 2>/dev/null | grep -qw "$NS_PEER" || return 0
	for p in $(ip netns pids "$NS_PEER" 2>/dev/null); do
		if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = tailscaled ]; then kill -KILL "$p" 2>/dev/null || true; fi
	done
	return 0
}

# peer_down: everything peer_up and peer_start made; safe to call twice and
# after a failure.
peer_down() {
	peer_stop
	if ip netns list 2>/dev/null | grep -qw "$NS_PEER"; then
		for p in $(ip netns pids "$NS_PEER" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$NS_PEER" 2>/dev/null || true
	fi
	if [ -n "$PEER_MADE_VARLIB" ]; then rmdir /var/lib/tailscale 2>/dev/null || true; fi
	PEER_MADE_VARLIB=""
	return 0
}
