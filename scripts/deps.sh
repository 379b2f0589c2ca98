#!/usr/bin/env bash
# Installs the Debian packages that the tests and the demo use, if any is
# missing. Needs root (it runs apt-get); does nothing when all are present.
set -euo pipefail

# command -> Debian package
declare -A need=(
	[ip]=iproute2
	[curl]=curl
	[dig]=dnsutils
	[dnsmasq]=dnsmasq-base
	[nginx]=nginx-light
	[nc]=netcat-openbsd
	[gcc]=gcc
	[etcd]=etcd-server # the etcd store's tests (they skip without it)
	[pg_ctlcluster]=postgresql # a real PostgreSQL server and psql in the e2e
	[redis-server]=redis-server
	[redis-cli]=redis-tools
	[runuser]=util-linux
	[nft]=nftables # the root helper's device guard (e2e-privsep)
	[python3]=python3 # e2e-privsep's DNS query bound to the device
	[systemd-analyze]=systemd # packaging's unit check (it skips without it)
)

missing=()
for cmd in "${!need[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${need[$cmd]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "missing packages: ${missing[*]}; run as root (sudo) so they can be installed" >&2
	exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
