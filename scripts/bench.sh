#!/usr/bin/env bash
# Benchmarks in network namespaces, each next to a baseline measured in the
# same run on the same machine:
#   throughput   iperf3 through VNet (TUN, netstack, tunnel, proxy)  vs  iperf3 straight over the veth
#   DNS          dnsperf against VNet's DNS (app names)              vs  dnsperf against dnsmasq (local records)
#   memory       resident memory of `vnet up` after the runs
# Figures only: nothing here passes or fails on speed. Needs root.
# BENCH_SECONDS (default 5) sets the length of each run; MTU (default: vnet
# up's) the TUN's MTU.
source "$(dirname "$0")/lib/world.sh"

secs=${BENCH_SECONDS:-5}
for cmd in iperf3 dnsperf; do
	command -v "$cmd" >/dev/null || {
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends iperf3 dnsperf >/dev/null
		break
	}
done

world_up
vnet_config_yaml company.test >"$WORK/vc.yaml"
ctl create "$WORK/vc.yaml" >/dev/null
printf 'kind: app\nversion: v1\nmetadata:\n  name: iperf\nspec:\n  uri: tcp://127.0.0.1:5201\n  public_addr: iperf.company.test\n' >"$WORK/iperf.yaml"
ctl create "$WORK/iperf.yaml" >/dev/null
bg iperf3 "$NS_CLUSTER" iperf3 --server --bind 0.0.0.0 --port 5201
token=$(ctl users add bench | signup_token)
in_user "$VNET" login --proxy="$PROXY" --user=bench --token="$token" --no-password --ca-pin="$CA_PIN" >/dev/null
vnet_up ${MTU:+--mtu "$MTU"}
wait_for "iperf3 server" in_cluster bash -c "exec 3<>/dev/tcp/127.0.0.1/5201"

gbits() { python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))'; }
ratio() { python3 -c "print('%.0f%%' % (100*float('$1')/float('$2')))"; }

log "throughput: iperf3 -t $secs, one stream, client in the user namespace"
direct=$(in_user iperf3 -J -t "$secs" -c "$CLUSTER_IP" | gbits)
sleep 1
vnet=$(in_user iperf3 -J -t "$secs" -c iperf.company.test | gbits)
sleep 1
vnet_rev=$(in_user iperf3 -J -R -t "$secs" -c iperf.company.test | gbits)
printf '  %-34s %8s Gbit/s\n' "baseline (veth, kernel TCP)" "$direct" "through VNet, upload" "$vnet" "through VNet, download (-R)" "$vnet_rev"
echo "  VNet / baseline: upload $(ratio "$vnet" "$direct"), download $(ratio "$vnet_rev" "$direct")"

log "DNS: dnsperf -l $secs, 64 queries in flight"
for i in $(seq 200); do echo "tcp-app.company.test A"; done >"$WORK/q-vnet.txt"
for i in $(seq 200); do echo "only-upstream.test A"; done >"$WORK/q-base.txt"
qps() { grep 'Queries per second' | awk '{print $4}'; }
base_qps=$(in_user dnsperf -s "$CLUSTER_IP" -d "$WORK/q-base.txt" -l "$secs" -q 64 -c 4 | qps)
vnet_qps=$(in_user dnsperf -s 100.64.0.2 -d "$WORK/q-vnet.txt" -l "$secs" -q 64 -c 4 | qps)
fwd_qps=$(in_user dnsperf -s 100.64.0.2 -d "$WORK/q-base.txt" -l "$secs" -q 64 -c 4 | qps)
printf '  %-34s %10s queries/s\n' "baseline (dnsmasq, local record)" "$base_qps" "VNet, app name" "$vnet_qps" "VNet, forwarded to dnsmasq" "$fwd_qps"
echo "  VNet app names / dnsmasq: $(ratio "$vnet_qps" "$base_qps")"

log "memory"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$VNET_UP_PID/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$VNET_UP_PID/status")
echo "  vnet up: resident $((rss / 1024)) MiB now, peak $((hwm / 1024)) MiB"
