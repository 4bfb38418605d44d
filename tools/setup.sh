#!/usr/bin/env bash
# Installs every Debian package flowgate's build, tests and benchmarks need.
# Idempotent and non-interactive. Never installs the Boost 1.74 defaults
# (libboost-dev & co.): they conflict with 1.81 and have no Boost.JSON.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache clang-format
  clang libclang-rt-14-dev
  libcaf-dev libcaf-doc
  libboost-json1.81-dev libboost-test1.81-dev
  libsqlite3-dev sqlite3
  libpq-dev postgresql
  libhowardhinnant-date-dev tzdata
  libssl-dev openssl
  prometheus-cpp-dev  # /metrics: registry and text exposition
  curl  # the HTTP API tests (and the README examples they run)
  gdb  # stacks of a stalled node in the process-level tests' failure messages
  iproute2  # network namespaces as hosts in test_multihost
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
