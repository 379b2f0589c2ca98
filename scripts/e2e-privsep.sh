#!/usr/bin/env bash
# End-to-end tests of the privilege split on Linux (issue 14): `sudo vnet
# up` keeps root for the helper (TUN, addresses, routes, rules, DNS) and
# runs the engine, which holds the user's key, as the user; only that
# user's traffic reaches VNet's range; whatever way VNet stops (SIGTERM,
# kill -9 of the engine and the helper, then the next start or `vnet
# down`), nothing is left: no TUN, route, rule, nft table, resolver entry
# or state. The device's guard keeps other users' sockets bound to it
# (SO_BINDTODEVICE) out, and strict reverse-path filtering keeps the
# apps' replies.
#
# Two local users are added for the run (and removed at the end): the VNet
# user, who logs in and runs VNet through a simulated sudo (SUDO_UID and
# SUDO_GID), and another user of the same machine. Needs root.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

VUSER=vnetpa$$
OUSER=vnetpb$$
TABLE=7353
HELPER_DIR=/run/vnet

# privsep_down: the world first (a VNet left running by a failure goes
# with the namespaces), then the users, who then own no process.
privsep_down() {
	local rc=$?
	set +e
	(exit $rc)
	world_down
	rc=$?
	for u in "$VUSER" "$OUSER"; do
		id "$u" >/dev/null 2>&1 && userdel "$u" 2>/dev/null
		getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
	done
	return $rc
}

world_up
trap privsep_down EXIT

log "two local users: $VUSER runs VNet, $OUSER is someone else on the machine"
useradd -M -U -s /usr/sbin/nologin "$VUSER"
useradd -M -U -s /usr/sbin/nologin "$OUSER"
VUID=$(id -u "$VUSER")
VGID=$(id -g "$VUSER")
VHOME=$WORK/home-$VUSER
mkdir -p "$VHOME" "$WORK/home-$OUSER"
chown "$VUSER:$VUSER" "$VHOME"
chown "$OUSER:$OUSER" "$WORK/home-$OUSER"
# as USER HOME CMD...: CMD as USER (uid, gid and groups) in the user namespace.
as() {
	local u=$1 h=$2
	shift 2
	in_user setpriv --reuid="$u" --regid="$u" --init-groups env HOME="$h" VNET_HOME="$h" "$@"
}
as_vnet() { as "$VUSER" "$VHOME" "$@"; }
as_other() { as "$OUSER" "$WORK/home-$OUSER" "$@"; }

vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
ctl create "$WORK/vnet-config.yaml" >/dev/null
token=$(ctl users add alice --roles=dev | signup_token)
echo "correct horse battery" >"$WORK/alice-pw"
chown "$VUSER" "$WORK/alice-pw"
check "the VNet user logs in (the key is theirs)" as_vnet "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --ca-pin="$CA_PIN" --new-password-file="$WORK/alice-pw"
check "the key file belongs to the VNet user" outputs "^$VUSER 600\$" stat -c '%U %a' "$VHOME/profiles/proxy.vnet.test/key.pem"

NS_INODE=$(in_user stat -L -c %i /proc/self/ns/net)
STATE_FILE=$HELPER_DIR/helper-net$NS_INODE-vnet0.json

# up_as_sudo: `sudo vnet up` by the VNet user (sudo's variables, root's
# process); sets VNET_UP_PID (the helper) and ENGINE_PID.
up_as_sudo() {
	: >"$WORK/vnet-up.log"
	bg vnet-up "$NS_USER" env SUDO_UID="$VUID" SUDO_GID="$VGID" SUDO_USER="$VUSER" VNET_HOME="$VHOME" \
		"$VNET" up --state-dir "$WORK/state"
	VNET_UP_PID=$BG_PID
	wait_for "vnet up" grep -q "VNet is up" "$WORK/vnet-up.log"
	ENGINE_PID=$(ps -o pid= --ppid "$VNET_UP_PID" | tr -d ' ')
	[ -n "$ENGINE_PID" ] || die "no engine under the helper (pid $VNET_UP_PID)"
}

# nothing_left: no TUN, no VNet route or rule, the original resolver, no
# state file: what must hold after every stop.
nothing_left() {
	local bad=0
	if in_user ip link show vnet0 >/dev/null 2>&1; then echo "vnet0 still exists"; bad=1; fi
	if in_user ip rule show | grep -q "lookup $TABLE"; then echo "rule left: $(in_user ip rule show | grep "lookup $TABLE")"; bad=1; fi
	if in_user ip -6 rule show | grep -q "lookup $TABLE"; then echo "IPv6 rule left"; bad=1; fi
	if [ -n "$(in_user ip route show table $TABLE 2>/dev/null)" ]; then echo "routes left in table $TABLE"; bad=1; fi
	if in_user ip route show | grep -q '^100\.'; then echo "route left: $(in_user ip route show | grep '^100\.')"; bad=1; fi
	if [ "$(in_user cat /etc/resolv.conf)" != "nameserver $CLUSTER_IP" ]; then echo "resolv.conf not restored: $(in_user cat /etc/resolv.conf)"; bad=1; fi
	if in_user nft list tables 2>/dev/null | grep -q ' vnet_'; then echo "nft table left: $(in_user nft list tables | grep ' vnet_')"; bad=1; fi
	if [ -e "$STATE_FILE" ]; then echo "state file left: $STATE_FILE"; bad=1; fi
	return $bad
}

# kill9_both: kill -9 of the helper, then of the engine, each waited for.
# The helper first: an engine that dies first makes the helper start
# undoing, and what it undid before its own kill would not be "left".
kill9_both() {
	kill -KILL "$VNET_UP_PID"
	stopped "$VNET_UP_PID"
	kill -KILL "$ENGINE_PID"
	stopped "$ENGINE_PID"
}

# stopped PID: wait until PID is gone.
stopped() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
	return 1
}

log "sudo vnet up: the engine runs as the user, the helper as root"
up_as_sudo
check "the helper runs as root" outputs '^root$' ps -o user= -p "$VNET_UP_PID"
check "the engine runs as the VNet user" outputs "^$VUSER\$" ps -o user= -p "$ENGINE_PID"
check "the engine holds the TUN device's descriptor" outputs 'tun' ls -l "/proc/$ENGINE_PID/fd"
check "the engine's state is the user's (root's folder stays root's)" outputs "^$VUSER 600\$" stat -c '%U %a' "$VHOME/state/address-secret"
check "the helper's state file is root's" outputs '^root 600$' stat -c '%U %a' "$STATE_FILE"
check "a rule sends the VNet user's own traffic (iif lo) to VNet's table" outputs "iif lo uidrange $VUID-$VUID lookup $TABLE" in_user ip rule show
check "and for IPv6" outputs "iif lo uidrange $VUID-$VUID lookup $TABLE" in_user ip -6 rule show
check "VNet's range is routed in its own table" outputs '^100\.64\.0\.0/10 dev vnet0' in_user ip route show table $TABLE
check "the main table routes only VNet's DNS address" outputs '^100\.64\.0\.2 dev vnet0' in_user ip route show
expect_fail "the main table does not route VNet's range" '.' sh -c "ip netns exec $NS_USER ip route show | grep '^100\.64\.0\.0/10' && exit 0; echo none; exit 1"
check "vnet status as the user" outputs 'tcp-app +tcp-app\.company\.test +100\.' as_vnet "$VNET" status --state-dir "$WORK/state"

app_ip=$(as_vnet getent ahostsv4 tcp-app.company.test | awk 'NR==1 {print $1}')
log "who reaches the app ($app_ip)"
check "the VNet user reaches the app by name" outputs '^hello from tcp-app$' as_vnet curl -sf --max-time 10 http://tcp-app.company.test:8080/
check "another user's names still resolve (VNet's DNS answers everyone)" outputs "^$app_ip " as_other getent ahostsv4 tcp-app.company.test
expect_fail "another local user cannot reach the app" 'unreachable|Failed to connect|timed out|Could not connect' as_other curl -sS --max-time 5 "http://$app_ip:8080/"
expect_fail "root, not the VNet user, cannot reach it either" 'unreachable|Failed to connect|timed out|Could not connect' in_user curl -sS --max-time 5 "http://$app_ip:8080/"
# Forwarded traffic: the cluster namespace routes VNet's range through the
# user namespace, which forwards; the packets are not the VNet user's.
in_user sysctl -qw net.ipv4.ip_forward=1
in_cluster ip route add 100.64.0.0/10 via "$USER_IP"
expect_fail "forwarded traffic (another host routing through this one) cannot reach the app" 'unreachable|Failed to connect|timed out|Could not connect' in_cluster curl -sS --max-time 5 "http://$app_ip:8080/"
in_cluster ip route del 100.64.0.0/10 via "$USER_IP"
in_user sysctl -qw net.ipv4.ip_forward=0

# A socket bound to the device (SO_BINDTODEVICE, curl --interface) needs
# no route: the guard, an nft table of the helper's, drops what leaves
# vnet0 from any socket but the VNet user's.
log "who reaches the app through the device itself (SO_BINDTODEVICE)"
check "the device has its guard (an nft table of its own)" outputs "oifname \"vnet0\" meta skuid != $VUID drop" in_user nft list table inet vnet_vnet0
check "the VNet user reaches the app bound to the device" outputs '^hello from tcp-app$' as_vnet curl -sf --max-time 10 --interface vnet0 "http://$app_ip:8080/"
expect_fail "another local user bound to the device cannot reach the app" 'timed out|Failed to connect|Could not connect|not permitted' as_other curl -sS --max-time 5 --interface vnet0 "http://$app_ip:8080/"
expect_fail "nor can root bound to the device" 'timed out|Failed to connect|Could not connect|not permitted' in_user curl -sS --max-time 5 --interface vnet0 "http://$app_ip:8080/"
check "another user's resolver still asks VNet's DNS through the device" outputs "^$app_ip\$" as_other /usr/bin/python3 -c '
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in "tcp-app.company.test".split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"vnet0")
s.settimeout(10)
s.sendto(q, (sys.argv[1], 53))
a = s.recv(512)
print(socket.inet_ntoa(a[-4:]))
' "$(in_user ip route show | awk '/^100\.64\./ {print $1; exit}')"

# Strict reverse-path filtering: the kernel checks the source of each
# reply as uid 0; the helper's rule for uid 0 from the device's address
# answers that check with VNet's route through the device.
log "strict reverse-path filtering (rp_filter=1)"
RP_ALL=$(in_user sysctl -n net.ipv4.conf.all.rp_filter)
in_user sysctl -qw net.ipv4.conf.all.rp_filter=1
TUN_ADDR=$(in_user ip -4 -o addr show dev vnet0 | awk '{sub("/.*", "", $4); print $4; exit}')
check "a rule answers root's reverse-path lookups from the device's address" outputs "from $TUN_ADDR iif lo uidrange 0-0 lookup $TABLE" in_user ip rule show
# By its IPv4 address: rp_filter is IPv4's (the name may go over IPv6).
check "the VNet user reaches the app with rp_filter=1" outputs '^hello from tcp-app$' as_vnet curl -sf --max-time 10 "http://$app_ip:8080/"
# Without the rule the check above fails: strict filtering drops the replies.
in_user ip rule del priority $TABLE from "$TUN_ADDR" iif lo uidrange 0-0 lookup $TABLE
expect_fail "without that rule, rp_filter=1 drops the app's replies (the check above can fail)" 'timed out|Failed to connect|Could not connect' as_vnet curl -sS --max-time 5 "http://$app_ip:8080/"
in_user ip rule add priority $TABLE from "$TUN_ADDR" iif lo uidrange 0-0 lookup $TABLE
in_user sysctl -qw net.ipv4.conf.all.rp_filter="$RP_ALL"

# Without the guard the bypass is real: the SO_BINDTODEVICE check above can fail.
in_user nft delete table inet vnet_vnet0
check "without the guard another user bound to the device reaches the app (the check above can fail)" outputs '^hello from tcp-app$' as_other curl -sf --max-time 10 --interface vnet0 "http://$app_ip:8080/"

log "SIGTERM: the helper stops the engine and undoes everything"
kill -TERM "$VNET_UP_PID"
check "vnet up stops on SIGTERM" stopped "$VNET_UP_PID"
check "the engine stopped too" stopped "$ENGINE_PID"
check "nothing is left after SIGTERM" nothing_left

log "kill -9 of the engine and the helper, then the next start"
up_as_sudo
kill9_both
check "kill -9 left the rule behind (what the state file is for)" outputs "lookup $TABLE" in_user ip rule show
check "kill -9 left VNet's resolv.conf behind" outputs 'Generated by VNet' in_user cat /etc/resolv.conf
check "the state file lists it" outputs '"rules"' cat "$STATE_FILE"
check "kill -9 left the guard behind" outputs 'table inet vnet_vnet0' in_user nft list tables
check "the state file lists the guard" outputs '"nft_table": "vnet_vnet0"' cat "$STATE_FILE"
up_as_sudo
check "the next start serves again" outputs '^hello from tcp-app$' as_vnet curl -sf --max-time 10 http://tcp-app.company.test:8080/
check "one rule for the user, not two" outputs '^1$' sh -c "ip netns exec $NS_USER ip rule show | grep -c 'uidrange $VUID-$VUID lookup $TABLE'"
check "one guard" outputs '^1$' sh -c "ip netns exec $NS_USER nft list tables | grep -c ' vnet_'"
kill -TERM "$VNET_UP_PID"
stopped "$VNET_UP_PID"
check "nothing is left after the start that followed kill -9" nothing_left

if "$VNET" help 2>&1 | grep -q 'vnet down'; then
	log "kill -9 of the engine and the helper, then vnet down"
	up_as_sudo
	kill9_both
	check "vnet down undoes what they left" in_user "$VNET" down --state-dir "$WORK/state"
	check "nothing is left after vnet down" nothing_left
fi

summary "e2e-privsep"
