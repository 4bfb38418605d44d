#!/usr/bin/env bash
# The README's test command: installs packages, builds everything, runs every
# CTest suite. Environment:
#   BUILD_DIR          build directory (default: build)
#   FLOWGATE_SANITIZE  e.g. address,undefined (a separate BUILD_DIR is advised)
#   FLOWGATE_WERROR    ON (default) treats warnings as errors
#   CTEST_LABELS       regex of labels to run (default: all)
#   CTEST_EXCLUDE      regex of test names not to run (default: none)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build_dir="${BUILD_DIR:-build}"
build_type=Release
benchmarks=ON
if [ -n "${FLOWGATE_SANITIZE:-}" ]; then
  # No test runs a benchmark: a sanitizer build leaves them out.
  build_type=RelWithDebInfo
  benchmarks=OFF
fi
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" \
  -DFLOWGATE_WERROR="${FLOWGATE_WERROR:-ON}" \
  -DFLOWGATE_SANITIZE="${FLOWGATE_SANITIZE:-}" \
  -DFLOWGATE_BUILD_TESTS=ON -DFLOWGATE_BUILD_BENCHMARKS=$benchmarks
cmake --build "$build_dir" -j "$(nproc)"
ctest --test-dir "$build_dir" --output-on-failure -j 2 ${CTEST_LABELS:+-L "$CTEST_LABELS"} \
  ${CTEST_EXCLUDE:+-E "$CTEST_EXCLUDE"}
