#!/usr/bin/env bash
# Runs docs/quickstart.md: every command block in it, in order, each on the
# machine its mark names, so that the guide cannot drift from the code.
#
# A block is marked by an HTML comment on the line above it:
#
#   <!-- quickstart: SIDE[, ATTR]... -->
#
# SIDE is `cluster` (the cluster host) or `user` (Alice's laptop), or
# `skip` for a block this test cannot run (installing on the host); every
# ```sh block must carry a mark. ATTRs:
#   file: PATH            the block (yaml) is written to PATH (relative: the
#                         side's folder)
#   start: NAME           the block is one long-running command, started in
#                         the background; with ready: CMD, polled until CMD
#                         succeeds ($LOG is its log)
#   restart: NAME         stop NAME (SIGTERM), then start the block as NAME
#   expect: REGEX         the output must match (grep -E)
#   retry                 run again until it succeeds (the laptop follows
#                         cluster changes within seconds)
#   offstage              what the reader does by hand (copy a token from a
#                         message); such blocks sit inside the comment:
#                         `<!-- quickstart: user, offstage` ... `-->`
#
# Each side is a machine of its own: a network namespace of the world
# (scripts/lib/world.sh) and a mount namespace in which /etc and /var/lib are
# overlays on the host's, so the guide's /etc/vnet and /var/lib/vnet are
# used as written and the host's stay untouched. Each side works in its own
# folder ($QS/cluster, $QS/user); a block's output is kept there as
# last.out for the offstage blocks, and the sides' folders are siblings
# (the "message" from the admin to Alice). Before a block runs, a leading
# `sudo ` is dropped (this test runs as root) and `sha256:...` becomes the
# CA pin an offstage block wrote to $QS/ca-pin. The world provides what the
# guide assumes exists: the names proxy.example.test and proxy.leaf.test,
# and the apps (web servers at localhost:8080 and localhost:8091 on the
# cluster host). Needs root. Prints "N passed, N failed".
source "$(dirname "$0")/lib/world.sh"
source "$(dirname "$0")/lib/checks.sh"

GUIDE=$REPO/docs/quickstart.md
[ -f "$GUIDE" ] || die "no $GUIDE"

host_etc_vnet=$([ -e /etc/vnet ] && echo present || echo absent)
WORLD_NO_CLUSTER=1 world_up
QS=$WORK/quickstart
mkdir -p "$QS/cluster" "$QS/user" "$QS/home" "$QS/blocks"

log "the world as the guide assumes it: the proxies' names and the apps"
add_host proxy.example.test "$CLUSTER_IP"
add_host proxy.leaf.test "$CLUSTER_IP"
web_app leaf 8091 "hello from leaf-app" # the world's nginx at 8080 is tcp-app

# Each side's machine: a process that holds a mount namespace with /etc and
# /var/lib overlaid (writes land in $QS/root-SIDE); commands enter it.
declare -A HOLDER
machine() {
	local side=$1 root=$QS/root-$1
	mkdir -p "$root"/{etc,etc.work,var,var.work}
	unshare -m --propagation private sh -c "
		mount -t overlay overlay -o lowerdir=/etc,upperdir=$root/etc,workdir=$root/etc.work /etc &&
		mount -t overlay overlay -o lowerdir=/var/lib,upperdir=$root/var,workdir=$root/var.work /var/lib &&
		exec sleep infinity" &
	HOLDER[$side]=$!
	PIDS+=("$!")
	# shellcheck disable=SC2317 # called through wait_for
	mounted() { grep -q ' /var/lib .* overlay ' "/proc/$1/mountinfo"; }
	wait_for "the $side machine's overlays" mounted "${HOLDER[$side]}"
}
machine cluster
machine user
ns_of() { if [ "$1" = cluster ]; then echo "$NS_CLUSTER"; else echo "$NS_USER"; fi; }

# on SIDE CMD...: run CMD on SIDE's machine, in its folder.
on() {
	local side=$1
	shift
	nsenter -t "${HOLDER[$side]}" -m --wd="$QS/$side" \
		ip netns exec "$(ns_of "$side")" env VNET_HOME="$QS/home" PATH="$WORK/bin:$PATH" "$@"
}

# prepare TEXT: what runs of a block's text.
prepare() {
	local text=$1 pin=""
	[ -f "$QS/ca-pin" ] && pin=$(<"$QS/ca-pin")
	[ -n "$pin" ] && text=${text//sha256:.../$pin}
	sed -E 's/(^|[;&|(][[:space:]]*)sudo /\1/g' <<<"$text"
}

declare -A DAEMON # start: NAME -> its PID
start_daemon() { # SIDE NAME READY TEXT
	local side=$1 name=$2 ready=$3 cmd
	cmd=$(prepare "$4")
	[ "$(wc -l <<<"$cmd")" -eq 1 ] || die "start: $name: a start block is one command"
	# Not through `on`, a function (its subshell's PID would be recorded):
	# nsenter, ip netns exec, env and bash all exec, so the PID recorded is
	# the daemon's own. The log is emptied before the fork, so that a
	# restart's readiness check cannot read the last run's log.
	: >"$WORK/quickstart-$name.log"
	nsenter -t "${HOLDER[$side]}" -m --wd="$QS/$side" \
		ip netns exec "$(ns_of "$side")" env VNET_HOME="$QS/home" PATH="$WORK/bin:$PATH" \
		bash -c "exec $cmd" >>"$WORK/quickstart-$name.log" 2>&1 &
	DAEMON[$name]=$!
	PIDS+=("$!")
	if [ -n "$ready" ]; then
		# shellcheck disable=SC2317 # called through wait_for
		is_ready() { on "$1" env LOG="$WORK/quickstart-$2.log" bash -c "$3"; }
		wait_for "$name ($ready)" is_ready "$side" "$name" "$ready"
	fi
}

stop_daemon() { # NAME
	local pid=${DAEMON[$1]:-}
	[ -n "$pid" ] || die "restart: $1 was never started"
	kill -TERM "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
	die "$1 did not stop on SIGTERM"
}

# run_block SIDE EXPECT RETRY TEXT: run the block; its output goes to the
# side's last.out and must match EXPECT.
run_block() {
	local side=$1 expect=$2 retry=$3 text out rc
	text=$(prepare "$4")
	for _ in $(seq 60); do
		rc=0
		# A bound on each run: a client the guide runs without one (curl)
		# must not hang the test.
		out=$(on "$side" timeout 60 bash -c "set -euo pipefail
$text" 2>&1) || rc=$?
		printf '%s\n' "$out" >"$QS/$side/last.out"
		if [ $rc -eq 0 ] && { [ -z "$expect" ] || grep -qE -- "$expect" <<<"$out"; }; then
			return 0
		fi
		[ "$retry" = yes ] || break
		sleep 0.5
	done
	echo "$out"
	[ $rc -ne 0 ] && echo "(exit code $rc)"
	[ -n "$expect" ] && echo "(output should match /$expect/)"
	return 1
}

# write_file SIDE PATH TEXT: the block becomes the file PATH on SIDE.
write_file() {
	local text
	text=$(prepare "$3")
	on "$1" sh -c 'mkdir -p "$(dirname "$1")" && cat >"$1"' _ "$2" <<<"$text"
}

log "reading the marked blocks of $GUIDE"
# One record per block: "LINE<TAB>ATTRS" in $QS/blocks/N.attrs, the text in N.text.
n=0
lineno=0
state=out
unmarked=()
while IFS= read -r line; do
	lineno=$((lineno + 1))
	case $state in
	out)
		if [[ $line =~ ^\<!--\ quickstart:\ (.*)$ ]]; then
			attrs=${BASH_REMATCH[1]}
			attrs=${attrs% -->}
			mark_line=$lineno
			state=marked
		elif [[ $line =~ ^\`\`\`sh ]]; then
			unmarked+=("$lineno")
			state=unmarked
		fi
		;;
	unmarked)
		[[ $line == '```' ]] && state=out
		;;
	marked)
		[[ $line =~ ^\`\`\` ]] || die "$GUIDE:$mark_line: a quickstart mark must be followed by a code block"
		n=$((n + 1))
		printf '%s\t%s\n' "$mark_line" "$attrs" >"$QS/blocks/$n.attrs"
		: >"$QS/blocks/$n.text"
		state=body
		;;
	body)
		if [[ $line == '```' ]]; then
			state=out
		else
			printf '%s\n' "$line" >>"$QS/blocks/$n.text"
		fi
		;;
	esac
done <"$GUIDE"
check "every sh block of the quick start is marked (unmarked at lines: ${unmarked[*]:-none})" test ${#unmarked[@]} -eq 0
check "the quick start has marked blocks ($n)" test "$n" -gt 10

for i in $(seq "$n"); do
	IFS=$'\t' read -r at attrs <"$QS/blocks/$i.attrs"
	text=$(<"$QS/blocks/$i.text")
	side="" file="" start="" restart="" ready="" expect="" retry=no offstage=no
	IFS=',' read -ra parts <<<"$attrs"
	for p in "${parts[@]}"; do
		p=$(sed -E 's/^[[:space:]]+|[[:space:]]+$//g' <<<"$p")
		case $p in
		cluster | user) side=$p ;;
		skip*) side=skip ;;
		file:*) file=$(sed -E 's/^file:[[:space:]]*//' <<<"$p") ;;
		start:*) start=$(sed -E 's/^start:[[:space:]]*//' <<<"$p") ;;
		restart:*) restart=$(sed -E 's/^restart:[[:space:]]*//' <<<"$p") ;;
		ready:*) ready=$(sed -E 's/^ready:[[:space:]]*//' <<<"$p") ;;
		expect:*) expect=$(sed -E 's/^expect:[[:space:]]*//' <<<"$p") ;;
		retry) retry=yes ;;
		offstage) offstage=yes ;;
		*) die "$GUIDE:$at: unknown quickstart attribute '$p'" ;;
		esac
	done
	[ -n "$side" ] || die "$GUIDE:$at: the mark names no side (cluster, user or skip)"
	[ "$side" = skip ] && continue
	first=$(head -n 1 <<<"$text")
	[ "$(wc -l <<<"$text")" -gt 1 ] && first="$first …"
	where="line $at ($side)"
	[ "$offstage" = yes ] && where="$where, by hand"
	if [ -n "$file" ]; then
		check "$where: write $file" write_file "$side" "$file" "$text"
	elif [ -n "$start" ]; then
		log "$where: $first (in the background)"
		start_daemon "$side" "$start" "$ready" "$text"
	elif [ -n "$restart" ]; then
		log "$where: restart $restart: $first"
		stop_daemon "$restart"
		start_daemon "$side" "$restart" "$ready" "$text"
	else
		check "$where: $first" run_block "$side" "$expect" "$retry" "$text"
	fi
done

log "what the guide left behind"
check "the guide's files are where it says, on the cluster host only" test -f "$QS/root-cluster/etc/vnet/cluster.yaml" -a ! -e "$QS/root-user/etc/vnet"
check "the cluster's state is in its /var/lib/vnet" test -f "$QS/root-cluster/var/vnet/cluster.db"
check "the host's /etc/vnet is as it was ($host_etc_vnet)" test "$([ -e /etc/vnet ] && echo present || echo absent)" = "$host_etc_vnet"

summary "e2e-quickstart"
