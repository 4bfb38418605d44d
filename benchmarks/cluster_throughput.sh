#!/bin/bash
# Throughput of 1, 2 and 3 `flowgate serve` nodes (separate processes) on one
# store: for each node count, `flowgate-bench --preload` leaves RUNS one-step
# runs PENDING in a fresh store, then the nodes are started together and the
# time until every run is COMPLETED is measured (from the nodes' launch, so
# their start-up is included), with the nodes' CPU (user + system, from
# /proc) per run and their peak RSS. The nodes share the work by claiming
# (--poll-ms 20); on one machine they share its cores, so this shows what
# a second and third process cost or gain here, not what more hosts add.
# Usage: benchmarks/cluster_throughput.sh [BUILD_DIR]
#   env: NODES="1 2 3", RUNS=20000, TENANTS=100, STEPS=1,
#        DB=postgresql://... (an empty database, emptied before each round;
#        default a SQLite file in a temp directory), SERVE_ARGS (more flags)
# Needs sqlite3 (SQLite) or psql (PostgreSQL). Stops the nodes by their pid.
set -euo pipefail
BUILD=${1:-build}
FG=$(realpath "$BUILD/tools/flowgate")
BENCH_BIN=$(realpath "$BUILD/benchmarks/flowgate-bench")
RUNS=${RUNS:-20000}
TENANTS=${TENANTS:-100}
STEPS=${STEPS:-1}
D=$(mktemp -d /tmp/flowgate-cluster-throughput.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$D"
}
trap cleanup EXIT

count_completed() { # DB
  if [[ $1 == postgresql://* ]]; then
    psql -qtAX "$1" -c "SELECT count(*) FROM runs WHERE status = 'COMPLETED'"
  else
    sqlite3 "$1" "PRAGMA busy_timeout=5000; SELECT count(*) FROM runs WHERE status = 'COMPLETED'" | tail -1
  fi
}
cpu_ticks() { # PID: utime + stime of the process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}
peak_rss_kb() { # PID
  awk '/^VmHWM/ {print $2}' "/proc/$1/status"
}
ticks=$(getconf CLK_TCK)

echo "cluster throughput: $RUNS runs of $STEPS noop step(s), $TENANTS tenants, $(nproc) cores, store ${DB:-SQLite (synchronous=full)}"
for n in ${NODES:-1 2 3}; do
  if [ -n "${DB:-}" ]; then
    db=$DB
    psql -qX "$db" -c 'DROP SCHEMA public CASCADE; CREATE SCHEMA public' >/dev/null 2>&1
  else
    db=$D/fg-$n.db
  fi
  "$BENCH_BIN" --preload --db "$db" --runs "$RUNS" --steps "$STEPS" --tenants "$TENANTS" |
    sed 's/^/  /'
  PIDS=()
  t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    # shellcheck disable=SC2086
    "$FG" --db "$db" serve --node-id "node-$i" --poll-ms 20 ${SERVE_ARGS:-} \
      >"$D/node-$n-$i.log" 2>&1 &
    PIDS+=($!)
  done
  deadline=$(($(date +%s) + 600))
  while :; do
    done_runs=$(count_completed "$db" 2>/dev/null || echo 0)
    [ "${done_runs:-0}" -ge "$RUNS" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "  $n node(s): only $done_runs of $RUNS runs completed in 600 s" >&2
      exit 1
    fi
    sleep 0.1
  done
  t1=$(date +%s.%N)
  cpu=0
  rss=""
  for p in "${PIDS[@]}"; do
    cpu=$((cpu + $(cpu_ticks "$p")))
    rss="$rss $(($(peak_rss_kb "$p") / 1024))MB"
  done
  for p in "${PIDS[@]}"; do kill -TERM "$p"; done
  for p in "${PIDS[@]}"; do wait "$p" || true; done
  PIDS=()
  awk -v n="$n" -v runs="$RUNS" -v t0="$t0" -v t1="$t1" -v cpu="$cpu" -v hz="$ticks" -v rss="$rss" \
    'BEGIN { s = t1 - t0; printf "  %d node(s): %d runs in %.2f s = %.0f runs/s; CPU per run %.0f us (all nodes); peak RSS per node%s\n", n, runs, s, runs / s, 1e6 * cpu / hz / runs, rss }'
done
