#!/bin/bash
# Signal-to-progress latency of a run waiting for an event, measured by the
# store's own timestamps (signal stored -> signal_received event):
#  - poll-bound: the signal is written to the database by a CLI (no node is
#    told; the serving node finds the due run at its next poll);
#  - through the node: the signal goes through the node's door (--connect);
#    the node claims the run at once;
# and cancel-to-canceled of runs held by another node (an activity of 8 s in
# flight), canceled through the first node's door: with a peer key the
# holder is poked at once; without one it finds the cancel when the
# activity ends.
# Usage: benchmarks/signal_latency.sh [BUILD_DIR] (env N=40 runs per way,
# SERVE_ARGS="--poll-ms 200"). Needs openssl and sqlite3; SQLite store in a
# temp directory, a node on 127.0.0.1 (stopped by its pid at the end).
set -euo pipefail
BUILD=${1:-build}
FG=$(realpath "$BUILD/tools/flowgate")
HERE=$(dirname "$(realpath "$0")")
N=${N:-40}
BENCH=signal-latency
# shellcheck source=benchmarks/cluster_setup.sh
source "$HERE/cluster_setup.sh"
echo '{"name":"Acme","max_concurrent_runs":0}' | fg tenant put acme - >/dev/null
echo '{"id":"sub_1","status":"active","current_period_start":"2026-01-01T00:00:00Z","current_period_end":"2099-01-01T00:00:00Z","price_metadata":{"workflow_step_limit":"unlimited"},"product_metadata":{}}' |
  fg subscription set --tenant acme - >/dev/null
echo '{"name":"p","root":{"sequence":[{"id":"approval","wait":{"event":"go"}},{"id":"ship","activity":"noop"}]}}' |
  fg config put --tenant acme --queue q --version 1 - >/dev/null
KEY=$(fg key create --operator --name bench | grep -o 'fgk_[0-9a-f_]*' | head -1)
# shellcheck disable=SC2086
"$FG" --db "$DB" serve --node-id bench ${SERVE_ARGS:-} --listen 127.0.0.1:0 --tls-cert node.pem \
  --tls-key node.key --tls-ca ca.pem >serve.log 2>&1 &
PID=$!
ADDR=$(address_of "$DB" bench) || { cat serve.log >&2; exit 1; }
for _ in $(seq 1 $((2 * N))); do fg run start --tenant acme --queue q >/dev/null; done
for _ in $(seq 1 100); do
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM runs WHERE status = 'WAITING'")" = $((2 * N)) ] && break
  sleep 0.1
done
# 150 ms apart: the poll phase a signal meets is spread evenly.
for r in $(seq 1 "$N"); do fg run signal "$r" --event go --tenant acme >/dev/null; sleep 0.15; done
for r in $(seq $((N + 1)) $((2 * N))); do
  "$FG" --connect "$ADDR" --key "$KEY" run signal "$r" --event go --tenant acme >/dev/null
  sleep 0.15
done
for _ in $(seq 1 100); do
  [ "$(sqlite3 "$DB" "SELECT count(*) FROM runs WHERE status = 'COMPLETED'")" = $((2 * N)) ] && break
  sleep 0.1
done
latencies() {
  sqlite3 "$DB" "SELECT e.created_at_ms - s.created_at_ms FROM run_signals s JOIN run_events e ON
    e.run_id = s.run_id AND e.seq = s.consumed_seq WHERE s.run_id $1 ORDER BY 1"
}
stats() {
  awk '{a[NR] = $1} function at(p, i) { i = int(NR * p) + 1; if (i > NR) i = NR; return a[i] }
    END { printf "n=%d p50=%d p90=%d p99=%d max=%d ms\n", NR, at(0.5), at(0.9), at(0.99), a[NR] }'
}
echo "signal to a waiting run, poll-bound (written to the database): $(latencies "<= $N" | stats)"
echo "signal to a waiting run, through the node (--connect):         $(latencies "> $N" | stats)"
kill -TERM "$PID"
wait "$PID" || true
PID=

# Cancel of runs another node holds: node "a" takes the cancels, node "b"
# holds the runs (it starts them: a node that creates a run claims it).
echo '{"name":"slow","root":{"sequence":[{"id":"a","activity":"sleep","input":{"ms":8000}},{"id":"b","activity":"noop"}]}}' |
  fg config put --tenant acme --queue slow --version 1 - >/dev/null
PID_A=
PID_B=
serve_node() { # ID: started in the background (its pid in $!)
  # shellcheck disable=SC2086
  "$FG" --db "$DB" serve --node-id "$1" ${SERVE_ARGS:-} --workers 64 --listen 127.0.0.1:0 \
    --tls-cert node.pem --tls-key node.key --tls-ca ca.pem >>"serve-$1.log" 2>&1 &
}
cancel_round() { # LABEL: N runs started through b, canceled through a
  local first last
  first=$(($(sqlite3 "$DB" "SELECT coalesce(max(run_id), 0) FROM runs") + 1))
  for _ in $(seq 1 "$N"); do
    "$FG" --connect "$ADDR_B" --key "$KEY" run start --tenant acme --queue slow >/dev/null
  done
  last=$((first + N - 1))
  [ -n "${TRACE:-}" ] && echo "started $first..$last at $(date +%s.%N)" >&2
  for r in $(seq "$first" "$last"); do
    "$FG" --connect "$ADDR_A" --key "$KEY" run cancel "$r" --tenant acme >/dev/null
  done
  for _ in $(seq 1 300); do
    [ "$(sqlite3 "$DB" "SELECT count(*) FROM runs WHERE run_id >= $first AND status = 'CANCELED'")" = "$N" ] && break
    sleep 0.1
  done
  local held
  held=$(sqlite3 "$DB" "SELECT count(DISTINCT node_id) || ' holder(s): ' || group_concat(DISTINCT node_id) FROM run_steps WHERE run_id >= $first")
  echo "cancel of a run node b holds, through node a, $1: $(sqlite3 "$DB" "SELECT e.created_at_ms - s.created_at_ms FROM run_signals s JOIN run_events e ON e.run_id = s.run_id AND e.event_type = 'run_canceled' WHERE s.kind = 'cancel' AND s.run_id BETWEEN $first AND $last ORDER BY 1" | stats) ($held)"
}
for mode in with without; do
  if [ $mode = with ]; then export FLOWGATE_PEER_KEY=$KEY; else unset FLOWGATE_PEER_KEY; fi
  serve_node a
  PID_A=$!
  serve_node b
  PID_B=$!
  ADDR_A=$(address_of "$DB" a)
  ADDR_B=$(address_of "$DB" b)
  cancel_round "$mode a peer key"
  kill -TERM "$PID_A" "$PID_B"
  wait "$PID_A" "$PID_B" || true
done
