#!/usr/bin/env bash
# Installs what berth needs that a fresh machine (Go, gcc, git, kubectl) lacks:
# the container runtime and networking packages from Debian, and the Go modules.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(containerd runc containernetworking-plugins nftables iptables iproute2 busybox-static)
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

go mod download
