#!/usr/bin/env bash
# Builds bin/berth with its built-in image programs (pause, demo) embedded.
set -euo pipefail
cd "$(dirname "$0")/.."
for p in pause demo; do
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "images/bin/$p" "./images/$p"
done
go build -o bin/berth ./cmd/berth
