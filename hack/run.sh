#!/usr/bin/env bash
# Installs what is missing, builds berth and starts a single-node cluster
# on this machine (`berth up`). Extra arguments go to `berth up`.
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/deps.sh
./hack/build.sh
exec ./bin/berth up "$@"
