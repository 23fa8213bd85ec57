#!/usr/bin/env bash
# Installs the benchmark's load generators: ghz (gRPC) and vegeta (HTTP at a
# rate) from the Go module proxy into .cache/bin; from this checkout's
# bench/go, the engine's own Go client as a load generator and a bare Go
# proxy for its reference row; h2load (HTTP one call at a time) from
# Debian's nghttp2-client; Prometheus for the enrichment benchmark; and
# nginx (nginx-light) for the native-proxy reference row.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOBIN="$PWD/.cache/bin"
[ -x "$GOBIN/ghz" ] || go install github.com/bojand/ghz/cmd/ghz@v0.121.0
[ -x "$GOBIN/vegeta" ] || go install github.com/tsenart/vegeta/v12@v12.13.0
# Always rebuilt: they are this checkout's (the client is clients/go/mlclient).
(cd bench/go && go build -o "$GOBIN/engine-client" ./engine-client && go build -o "$GOBIN/go-bare-proxy" ./bare-proxy)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  # The packages start their system services; the benchmark runs its own.
  $SUDO pkill -x prometheus >/dev/null 2>&1 || true
  $SUDO pkill -x nginx >/dev/null 2>&1 || true
fi
