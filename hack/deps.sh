#!/usr/bin/env bash
# Installs what berth needs that a fresh machine (Go, gcc, git, kubectl) lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: none are needed by the control plane yet; the node agent
# will add containerd, runc, CNI plugins and nftables here.
packages=()
missing=()
for p in "${packages[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

go mod download
