#!/usr/bin/env bash
# Runs every test: unit, integration (in-process control plane) and
# end-to-end (the built binary driven by real kubectl).
set -euo pipefail
cd "$(dirname "$0")/.."
./hack/deps.sh
./hack/build.sh
go vet ./...
go test -count=1 -timeout 20m ./...
