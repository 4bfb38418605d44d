#!/bin/bash
# Latency of work that one node leaves to another, with and without links
# between the nodes (a peer key), by the store's own timestamps:
#  - drain: node a holds N runs (a 6 s step in flight) and is stopped
#    with SIGTERM; it records each step and hands the run back. Measured:
#    a's step finished -> b's next step started.
#  - full node: node a (--max-active 1, busy with one long run) creates N
#    runs it has no room for. Measured: run created -> b's first step
#    started.
# Without links node b finds such runs at its next poll (--poll-ms, 1000
# here); with them node a tells b at once.
# Usage: benchmarks/cluster_news_latency.sh [BUILD_DIR] (env N=20 runs per
# case, POLL_MS=1000). Needs openssl and sqlite3; SQLite store in a temp
# directory, nodes on 127.0.0.1 (stopped by their pids at the end).
set -euo pipefail
BUILD=${1:-build}
FG=$(realpath "$BUILD/tools/flowgate")
HERE=$(dirname "$(realpath "$0")")
N=${N:-20}
POLL_MS=${POLL_MS:-1000}
BENCH=news-latency
# shellcheck source=benchmarks/cluster_setup.sh
source "$HERE/cluster_setup.sh"
for t in acme other; do
  echo '{"name":"T","max_concurrent_runs":0}' | fg tenant put $t - >/dev/null
  echo '{"id":"sub_'$t'","status":"active","current_period_start":"2026-01-01T00:00:00Z","current_period_end":"2099-01-01T00:00:00Z","price_metadata":{"workflow_step_limit":"unlimited"},"product_metadata":{}}' |
    fg subscription set --tenant $t - >/dev/null
done
echo '{"name":"s","root":{"sequence":[{"id":"a","activity":"sleep","input":{"ms":6000}},{"id":"b","activity":"noop"}]}}' |
  fg config put --tenant acme --queue q --version 1 - >/dev/null
echo '{"name":"l","root":{"sequence":[{"id":"a","activity":"sleep","input":{"ms":60000}}]}}' |
  fg config put --tenant acme --queue long --version 1 - >/dev/null
echo '{"name":"n","root":{"sequence":[{"id":"a","activity":"noop"}]}}' |
  fg config put --tenant other --queue q --version 1 - >/dev/null
KEY=$(fg key create --operator --name bench | grep -o 'fgk_[0-9a-f_]*' | head -1)
serve_node() { # ID ARGS...: started in the background (its pid in $!)
  local id=$1
  shift
  # A 4 s lease TTL: the nodes re-read each other's addresses every 2 s.
  "$FG" --db "$DB" serve --node-id "$id" --poll-ms "$POLL_MS" --workers 64 --drain-ms 10000 \
    --lease-ttl-ms 4000 \
    --listen 127.0.0.1:0 --tls-cert node.pem --tls-key node.key --tls-ca ca.pem "$@" \
    >>"serve-$id.log" 2>&1 &
}
await() { # SQL VALUE: up to 60 s
  for _ in $(seq 1 600); do
    [ "$(sqlite3 "$DB" "$1")" = "$2" ] && return
    sleep 0.1
  done
  echo "timed out waiting for: $1 = $2" >&2
  exit 1
}
peak_rss() { # PID
  awk '/VmHWM/ { printf "%.1f MiB", $2 / 1024 }' "/proc/$1/status"
}
stats() {
  awk '{a[NR] = $1} function at(p, i) { i = int(NR * p) + 1; if (i > NR) i = NR; return a[i] }
    END { printf "n=%d p50=%d p90=%d p99=%d max=%d ms\n", NR, at(0.5), at(0.9), at(0.99), a[NR] }'
}
links_up() { # both nodes see each other connected
  for _ in $(seq 1 100); do
    if "$FG" --connect "$ADDR_B" --key "$KEY" --json cluster status | grep -q '"link":"connected"' &&
      "$FG" --connect "$ADDR_A" --key "$KEY" --json cluster status | grep -q '"link":"connected"'; then
      return
    fi
    sleep 0.2
  done
  echo "the nodes did not link" >&2
  exit 1
}
for mode in with without; do
  if [ $mode = with ]; then export FLOWGATE_PEER_KEY=$KEY; else unset FLOWGATE_PEER_KEY; fi
  # Drain: a holds N runs, b takes them over.
  first=$(($(sqlite3 "$DB" "SELECT coalesce(max(run_id), 0) FROM runs") + 1))
  serve_node a
  PID_A=$!
  serve_node b
  PID_B=$!
  ADDR_A=$(address_of "$DB" a)
  ADDR_B=$(address_of "$DB" b)
  [ $mode = with ] && links_up
  # Started through a: a node that creates a run claims it.
  for _ in $(seq 1 "$N"); do
    "$FG" --connect "$ADDR_A" --key "$KEY" run start --tenant acme --queue q >/dev/null
  done
  await "SELECT count(*) FROM run_steps WHERE run_id >= $first AND step_path = 'a' AND node_id = 'a'" "$N"
  kill -TERM "$PID_A"
  wait "$PID_A" || true
  PID_A=
  await "SELECT count(*) FROM runs WHERE run_id >= $first AND status = 'COMPLETED'" "$N"
  echo "drain, $mode a peer key: a's step finished -> b's next step started: $(sqlite3 "$DB" "SELECT n.started_at_ms - o.finished_at_ms FROM run_steps o JOIN run_steps n ON n.run_id = o.run_id AND n.step_path = 'b' WHERE o.step_path = 'a' AND o.run_id >= $first ORDER BY 1" | stats) ($(sqlite3 "$DB" "SELECT group_concat(DISTINCT node_id) FROM run_steps WHERE step_path = 'b' AND run_id >= $first") ran step b)"
  # Full node: a drives one long run and has no room for the others.
  serve_node a --max-active 1
  PID_A=$!
  ADDR_A=$(address_of "$DB" a)
  [ $mode = with ] && links_up
  busy=$("$FG" --connect "$ADDR_A" --key "$KEY" --json run start --tenant acme --queue long | grep -o '"run":[0-9]*' | cut -d: -f2)
  await "SELECT count(*) FROM run_steps WHERE run_id = $busy" 1
  first=$(($(sqlite3 "$DB" "SELECT coalesce(max(run_id), 0) FROM runs") + 1))
  for _ in $(seq 1 "$N"); do
    "$FG" --connect "$ADDR_A" --key "$KEY" run start --tenant other --queue q >/dev/null
    sleep 0.1
  done
  await "SELECT count(*) FROM runs WHERE run_id >= $first AND status = 'COMPLETED'" "$N"
  echo "full node, $mode a peer key: run created on a -> first step started on b: $(sqlite3 "$DB" "SELECT s.started_at_ms - r.created_at_ms FROM runs r JOIN run_steps s ON s.run_id = r.run_id WHERE r.run_id >= $first ORDER BY 1" | stats) ($(sqlite3 "$DB" "SELECT group_concat(DISTINCT node_id) FROM run_steps WHERE run_id >= $first") ran them)"
  fg run cancel "$busy" --tenant acme >/dev/null
  echo "peak RSS, $mode a peer key: node a $(peak_rss "$PID_A"), node b $(peak_rss "$PID_B")"
  kill -TERM "$PID_A" "$PID_B"
  wait "$PID_A" "$PID_B" || true
  PID_A=
  PID_B=
done
