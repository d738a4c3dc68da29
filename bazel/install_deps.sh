#!/usr/bin/env bash
# Installs every Debian 12 package batchexec needs to build, test, fuzz and
# benchmark offline. Idempotent: apt-get skips what is already installed.
set -euo pipefail

packages=(
  bazel-bootstrap            # Bazel 4.2.3, builds offline with bazel/deps.bzl
  g++ pkg-config
  libgrpc++-dev              # gRPC C++ (includes libgrpc++_reflection)
  protobuf-compiler-grpc     # grpc_cpp_plugin
  libprotobuf-dev protobuf-compiler
  libabsl-dev
  libgtest-dev libgmock-dev
  libbenchmark-dev
  grpc-proto                 # grpc/health/v1/health.proto
  clang libclang-rt-14-dev   # libFuzzer and sanitizer runtimes
  openssl                    # test certificates are made at test time
  nodejs npm                 # interop test with @grpc/grpc-js
  python3                    # asyncio baseline in the benchmark
  python3-aiohttp python3-grpcio  # its http and grpc_health baselines
  libmicrohttpd-dev          # GET /metrics (--metrics_port)
  rapidjson-dev              # the CLI's JSON lines (header-only)
  prometheus                 # CI scrapes /metrics with a real Prometheus
  curl                       # CI queries Prometheus's HTTP API
  libcurl4-openssl-dev       # the `http` task kind
  libc-ares-dev              # the dns kind's resolver (c-ares)
  systemd python3-yaml strace  # tools/deploy_check.sh: unit, manifests, sandbox
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
# node/npm/python3 may come from elsewhere on the machine (nvm, pyenv).
filtered=()
for p in "${missing[@]}"; do
  case "$p" in
    nodejs|npm|python3) command -v "${p/nodejs/node}" >/dev/null || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
  esac
done

if [ ${#filtered[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install_deps: installing ${filtered[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${filtered[@]}"
