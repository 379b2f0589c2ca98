#!/usr/bin/env bash
# End-to-end test of split DNS through a real systemd-resolved (issue 14):
# in the user namespace, a private mount namespace gets its own /run, its
# own D-Bus system bus (dbus-daemon) and systemd-resolved, whose global
# DNS is the world's upstream (dnsmasq). `vnet up --dns-mode
# systemd-resolved` gives the TUN device VNet's DNS address and a ~zone
# routing domain: only VNet's zones reach VNet, every other name keeps its
# path; stopping VNet (SIGTERM or kill -9) leaves resolved as it was.
#
# systemd-resolved is a package of its own; when it is not installed, its
# binaries are taken from the Debian package without installing it
# (installing would take over /etc/resolv.conf): apt-get download, dpkg -x
# into a cache. It runs as the user systemd-resolve, added for the run
# when missing (and removed at the end). Needs root.
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

# resolved_tools: set RESOLVED (the daemon) and RESOLVECTL.
resolved_tools() {
	RESOLVED="" RESOLVECTL=$(command -v resolvectl || true)
	for d in /usr/lib/systemd /lib/systemd; do
		[ -x "$d/systemd-resolved" ] && RESOLVED=$d/systemd-resolved && break
	done
	[ -n "$RESOLVED" ] && [ -n "$RESOLVECTL" ] && return 0
	local cache=${XDG_CACHE_HOME:-$HOME/.cache}/vnet-resolved
	if [ ! -x "$cache/root/lib/systemd/systemd-resolved" ]; then
		log "fetching systemd-resolved's binaries (Debian package, not installed)"
		mkdir -p "$cache"
		chmod 777 "$cache" # apt's download user writes there
		(cd "$cache" && { apt-get download -qq systemd-resolved 2>/dev/null || { apt-get update -qq && apt-get download -qq systemd-resolved; }; })
		dpkg -x "$(ls "$cache"/systemd-resolved_*.deb | tail -n 1)" "$cache/root"
	fi
	RESOLVED=$cache/root/lib/systemd/systemd-resolved
	RESOLVECTL=$cache/root/usr/bin/resolvectl
}

ADDED_USER=""
# resolved_down: the world first (resolved, which runs as systemd-resolve,
# goes with the namespaces), then the user it ran as.
resolved_down() {
	local rc=$?
	set +e
	(exit $rc)
	world_down
	rc=$?
	if [ -n "$ADDED_USER" ]; then
		userdel systemd-resolve 2>/dev/null
		getent group systemd-resolve >/dev/null && groupdel systemd-resolve 2>/dev/null
	fi
	return $rc
}

resolved_tools
world_up
trap resolved_down EXIT
if ! getent passwd systemd-resolve >/dev/null; then
	useradd -r -M -U -s /usr/sbin/nologin systemd-resolve
	ADDED_USER=1
fi

log "a private /run with its own D-Bus and systemd-resolved in the user namespace"
# The namespace's programs ask resolved's stub, as on a desktop.
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n' >"/etc/netns/$NS_USER/resolv.conf"
cat >"$WORK/dbus.conf" <<'XML'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
XML
cat >"$WORK/sandbox.sh" <<SANDBOX
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/dbus /run/systemd/resolve /run/systemd/resolved.conf.d
chown systemd-resolve:systemd-resolve /run/systemd/resolve
# resolved's global DNS: the world's upstream, for every domain.
printf '[Resolve]\nDNS=$CLUSTER_IP\nDomains=~.\nLLMNR=no\nMulticastDNS=no\nDNSSEC=no\nFallbackDNS=\n' >/run/systemd/resolved.conf.d/world.conf
dbus-daemon --config-file="$WORK/dbus.conf" --fork --nopidfile
exec "$RESOLVED"
SANDBOX
bg resolved "$NS_USER" unshare --mount --propagation private bash "$WORK/sandbox.sh"
SANDBOX_PID=$BG_PID
RESOLVED_PATH=$(dirname "$RESOLVECTL"):$PATH
# in_sandbox CMD...: CMD in the user namespace, in resolved's mount
# namespace (its /run, its bus), with resolvectl on the PATH.
in_sandbox() { in_user nsenter -t "$SANDBOX_PID" -m -- env PATH="$RESOLVED_PATH" "$@"; }
wait_for "systemd-resolved on its bus" in_sandbox resolvectl status
check "resolved's global DNS is the upstream" outputs "DNS Servers:? $CLUSTER_IP" in_sandbox resolvectl status
check "a name only the upstream knows resolves through resolved's stub" outputs '^192\.0\.2\.50 ' in_user getent ahostsv4 only-upstream.test

vnet_config_yaml company.test >"$WORK/vnet-config.yaml"
ctl create "$WORK/vnet-config.yaml" >/dev/null
token=$(ctl users add alice --roles=dev | signup_token)
echo "correct horse battery" >"$WORK/alice-pw"
check "login" in_user "$VNET" login --proxy="$PROXY" --user=alice --token="$token" --ca-pin="$CA_PIN" --new-password-file="$WORK/alice-pw"

# up_resolved: vnet up in resolved's mount namespace; sets VNET_UP_PID.
up_resolved() {
	: >"$WORK/vnet-up.log"
	bg vnet-up "$NS_USER" nsenter -t "$SANDBOX_PID" -m -- env PATH="$RESOLVED_PATH" \
		"$VNET" up --state-dir "$WORK/state" --dns-mode systemd-resolved
	VNET_UP_PID=$BG_PID
	wait_for "vnet up" grep -q "VNet is up" "$WORK/vnet-up.log"
}

# resolved_clean: resolved knows no vnet0 and kept its global DNS.
resolved_clean() {
	local out
	out=$(in_sandbox resolvectl status) || return 1
	if grep -q '(vnet0)' <<<"$out"; then
		echo "resolved still has vnet0: $out"
		return 1
	fi
	grep -qE "DNS Servers:? $CLUSTER_IP" <<<"$out" || {
		echo "global DNS changed: $out"
		return 1
	}
	in_user getent ahostsv4 only-upstream.test | grep -q '^192\.0\.2\.50 ' || {
		echo "upstream names no longer resolve"
		return 1
	}
}

log "vnet up --dns-mode systemd-resolved"
up_resolved
check "vnet0 has VNet's DNS server" outputs 'DNS Servers: 100\.64\.0\.2' in_sandbox resolvectl status vnet0
check "vnet0 routes VNet's zones (~company.test)" outputs 'DNS Domain:.*~company\.test' in_sandbox resolvectl status vnet0
check "vnet0 is not resolved's default route" outputs '-DefaultRoute|Default Route: no' in_sandbox resolvectl status vnet0
check "VNet's upstream is resolved's upstream (not its stub)" outputs "other names forwarded to \[$CLUSTER_IP:53\]" cat "$WORK/vnet-up.log"
check "an app's name goes to VNet, through vnet0" outputs '100\.[0-9.]+ +-- link: vnet0' in_sandbox resolvectl query --cache=no tcp-app.company.test
not_vnet() {
	local out
	out=$(in_sandbox resolvectl query --cache=no only-upstream.test) || return 1
	grep -q '192\.0\.2\.50' <<<"$out" || { echo "no answer: $out"; return 1; }
	! grep -q 'link: vnet0' <<<"$out" || { echo "went to VNet: $out"; return 1; }
}
check "any other name does not go to VNet" not_vnet
check "glibc through resolved's stub finds the app" outputs '^100\.' in_user getent ahostsv4 tcp-app.company.test
check "curl by name through resolved" outputs '^hello from tcp-app$' in_user curl -sf --max-time 10 http://tcp-app.company.test:8080/

log "SIGTERM: resolved forgets vnet0"
vnet_down
check "resolved is as before after SIGTERM" resolved_clean

log "kill -9 of the engine and the helper: the device goes, and resolved forgets it"
up_resolved
engine=$(ps -o pid= --ppid "$VNET_UP_PID" | tr -d ' ')
kill -KILL "$VNET_UP_PID" $engine
# shellcheck disable=SC2317 # called through wait_for
no_vnet0() { ! in_user ip link show vnet0 >/dev/null 2>&1; }
wait_for "vnet0 to go" no_vnet0
check "resolved is as before after kill -9" resolved_clean
up_resolved
check "the next start has split DNS again" outputs 'link: vnet0' in_sandbox resolvectl query --cache=no tcp-app.company.test
vnet_down
check "resolved is as before at the end" resolved_clean

summary "e2e-resolved"
