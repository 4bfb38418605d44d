#!/usr/bin/env bash
# Builds the libFuzzer targets with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer and runs each for a bounded time, two at a
# time. Usage: tools/fuzz.sh [TARGET...] (default: every target).
# Environment:
#   BUILD_DIR     build directory (default: build-fuzz)
#   FUZZ_SECONDS  time per target (default: 60)
#   FUZZ_JOBS     targets run at once (default: nproc)
# The repo's corpus (tests/fuzz/corpus/<target>) and regressions seed each
# run; new inputs go to a scratch copy, so the repo is not modified. An
# input that violates a property is saved under $BUILD_DIR/artifacts/ and
# the script fails: copy it to tests/fuzz/regressions/<target>/ with the
# fix, and it is replayed by every build's `fuzz.<target>` test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build_dir="${BUILD_DIR:-build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-$(nproc)}"
all=(pipeline tenant subscription json_document messages)
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=("${all[@]}")
fi
for t in "${targets[@]}"; do
  if [ ! -d "tests/fuzz/corpus/$t" ]; then
    echo "fuzz: unknown target '$t' (targets: ${all[*]})" >&2
    exit 2
  fi
done

CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFLOWGATE_WERROR="${FLOWGATE_WERROR:-ON}" \
  -DFLOWGATE_SANITIZE=address,undefined,fuzzer-no-link \
  -DFLOWGATE_BUILD_FUZZERS=ON -DFLOWGATE_BUILD_TESTS=OFF -DFLOWGATE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
artifacts="$build_dir/artifacts"
mkdir -p "$artifacts"

run_one() {
  local t="$1"
  local work="$scratch/$t"
  mkdir -p "$work/corpus"
  local dict=()
  if [ -f "tests/fuzz/$t.dict" ]; then
    dict=(-dict="tests/fuzz/$t.dict")
  fi
  # Inputs that once failed go first, as they do in the replay test.
  local seeds=("tests/fuzz/corpus/$t")
  if compgen -G "tests/fuzz/regressions/$t/[!.]*" >/dev/null; then
    seeds+=("tests/fuzz/regressions/$t")
  fi
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build_dir/tests/fuzz/fuzz_$t" "$work/corpus" "${seeds[@]}" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$t-" >"$work/log" 2>&1
}

failed=()
running=0
pids=()
names=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    failed+=("${names[$i]}")
  fi
done

printf '%-14s %12s %10s %6s %6s %7s\n' target executions exec/s cov ft corpus
for t in "${targets[@]}"; do
  log="$scratch/$t/log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\)\/.*/\1/p' <<<"$last")
  printf '%-14s %12s %10s %6s %6s %7s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}"
done

if [ "${#failed[@]}" -ne 0 ]; then
  for t in "${failed[@]}"; do
    echo "== fuzz_$t failed; its log:" >&2
    tail -n 60 "$scratch/$t/log" >&2
  done
  echo "fuzz: failing inputs are in $artifacts/" >&2
  ls -l "$artifacts" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no property violated"
