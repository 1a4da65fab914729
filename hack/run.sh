#!/usr/bin/env bash
# Installs what is missing, builds berth and starts a cluster on this
# machine. Extra arguments go to `berth server`.
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/deps.sh
go build -o bin/berth ./cmd/berth
exec ./bin/berth server "$@"
