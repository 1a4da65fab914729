#!/usr/bin/env bash
# A multi-node berth cluster on one machine, for demos: the control plane
# runs on this host, and each node is a network namespace ("host") with a
# veth on a bridge of its own, running `berth agent` with its own
# containerd. Pods on different nodes talk across the veths (host-gw routes).
#
#   ./hack/multinode.sh up [N]    # N nodes (default 2); prints what to export
#   ./hack/multinode.sh down      # stops everything and removes the hosts
#
# Needs root and what ./hack/deps.sh installs; run ./hack/build.sh first.
# State lives in /tmp/bmn (kept short: containerd's sockets live below it).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=/tmp/bmn
BRIDGE=bmn0
SUBNET=192.168.231
BERTH=$PWD/bin/berth

down() {
	for pidfile in "$STATE"/*.pid; do
		[ -e "$pidfile" ] || continue
		kill -INT "$(cat "$pidfile")" 2>/dev/null || true
	done
	# Agents stop their pods (--stop-pods-on-exit), then the server stops.
	for _ in $(seq 60); do
		alive=0
		for pidfile in "$STATE"/*.pid; do
			[ -e "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.5
	done
	for ns in $(ip netns list | awk '/^bmn-/ {print $1}'); do
		ip netns delete "$ns"
	done
	ip link delete "$BRIDGE" 2>/dev/null || true
	rm -rf "$STATE"
}

up() {
	local n=${1:-2}
	[ -x "$BERTH" ] || { echo "bin/berth is missing: run ./hack/build.sh" >&2; exit 1; }
	[ -d "$STATE" ] && { echo "$STATE exists: run '$0 down' first" >&2; exit 1; }
	mkdir -p "$STATE"
	sysctl -qw net.ipv4.ip_forward=1
	ip link add "$BRIDGE" type bridge
	ip addr add "$SUBNET.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up

	"$BERTH" server --data-dir "$STATE/server" --bind-address 0.0.0.0 --advertise-address "$SUBNET.1" \
		--tls-san "$SUBNET.1" >"$STATE/server.log" 2>&1 &
	echo $! >"$STATE/server.pid"
	for _ in $(seq 100); do
		grep -q "berth server is ready" "$STATE/server.log" && break
		sleep 0.2
	done
	grep -q "berth server is ready" "$STATE/server.log" || { echo "the server did not start; see $STATE/server.log" >&2; exit 1; }
	local port token
	port=$(grep -o 'ready at https://[^ ]*' "$STATE/server.log" | sed 's/.*://')
	token=$("$BERTH" token create --data-dir "$STATE/server")

	for i in $(seq 1 "$n"); do
		local ns=bmn-$i ip=$SUBNET.$((i + 1))
		ip netns add "$ns"
		ip link add "bmn-h$i" type veth peer name eth0 netns "$ns"
		ip link set "bmn-h$i" master "$BRIDGE" up
		ip -n "$ns" addr add "$ip/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" link set lo up
		ip -n "$ns" route add default via "$SUBNET.1"
		# nsenter changes only the network namespace: the agent needs
		# this machine's cgroup mounts, which `ip netns exec` hides.
		nsenter --net="/run/netns/$ns" -- "$BERTH" agent --server "https://$SUBNET.1:$port" --token "$token" \
			--data-dir "$STATE/n$i" --node-name "node-$i" --node-ip "$ip" --stop-pods-on-exit \
			>"$STATE/node-$i.log" 2>&1 &
		echo $! >"$STATE/node-$i.pid"
	done
	for i in $(seq 1 "$n"); do
		for _ in $(seq 150); do
			grep -q "agent ready" "$STATE/node-$i.log" && break
			sleep 0.2
		done
		grep -q "agent ready" "$STATE/node-$i.log" || { echo "node-$i did not start; see $STATE/node-$i.log" >&2; exit 1; }
	done
	cat <<EOF
berth is up with $n nodes (node-1 … node-$n at $SUBNET.2 …); logs in $STATE/*.log
export KUBECONFIG=$STATE/server/admin.kubeconfig
kubectl get nodes -o wide
# NodePorts, LoadBalancer addresses and ingresses answer on the node addresses ($SUBNET.2 …).
# Stop: $0 down
EOF
}

case "${1:-}" in
up) shift; up "$@" ;;
down) down ;;
*) echo "usage: $0 up [N] | down" >&2; exit 2 ;;
esac
