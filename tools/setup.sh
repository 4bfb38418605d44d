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
  libjemalloc-dev  # the executables' malloc (FLOWGATE_ALLOCATOR)
  prometheus-cpp-dev  # /metrics: registry and text exposition
  curl  # the HTTP API tests (and the README examples they run)
  gdb  # stacks of a stalled node in the process-level tests' failure messages
  iproute2  # network namespaces as hosts in test_multihost
  chromium  # the web console's browser tests (headless)
)
# Node.js and npm drive that browser (playwright-core, tests/console); the
# machine's own are used when present, else Debian's.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
else
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The browser tests' npm packages, exactly as package-lock.json pins them
# (playwright-core only: it drives Debian's Chromium, it downloads no browser).
console_tests="$(cd "$(dirname "$0")/.." && pwd)/tests/console"
if ! cmp -s "$console_tests/package-lock.json" \
  "$console_tests/node_modules/.installed-from-lock" 2>/dev/null; then
  echo "setup: npm ci in tests/console"
  (cd "$console_tests" && npm ci --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.installed-from-lock)
fi
echo "setup: done"
