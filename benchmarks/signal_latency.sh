#!/bin/bash
# Signal-to-progress latency of a run waiting for an event, measured by the
# store's own timestamps (signal stored -> signal_received event):
#  - poll-bound: the signal is written to the database by a CLI (no node is
#    told; the serving node finds the due run at its next poll);
#  - through the node: the signal goes through the node's door (--connect);
#    the node claims the run at once.
# Usage: benchmarks/signal_latency.sh [BUILD_DIR] (env N=40 runs per way,
# SERVE_ARGS="--poll-ms 200"). Needs openssl and sqlite3; SQLite store in a
# temp directory, a node on 127.0.0.1 (stopped by its pid at the end).
set -euo pipefail
BUILD=${1:-build}
FG=$(realpath "$BUILD/tools/flowgate")
N=${N:-40}
D=$(mktemp -d /tmp/flowgate-signal-latency.XXXXXX)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$D"
}
trap cleanup EXIT
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=bench-ca" 2>/dev/null
for n in node client; do
  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=$n" 2>/dev/null
  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 1 2>/dev/null
done
export FLOWGATE_TLS_CERT=$D/client.pem FLOWGATE_TLS_KEY=$D/client.key FLOWGATE_TLS_CA=$D/ca.pem
DB=$D/fg.db
fg() { "$FG" --db "$DB" "$@"; }
fg db migrate >/dev/null
echo '{"name":"Acme"}' | fg tenant put acme - >/dev/null
echo '{"id":"sub_1","status":"active","current_period_start":"2026-01-01T00:00:00Z","current_period_end":"2099-01-01T00:00:00Z","price_metadata":{"workflow_step_limit":"unlimited"},"product_metadata":{}}' |
  fg subscription set --tenant acme - >/dev/null
echo '{"name":"p","root":{"sequence":[{"id":"approval","wait":{"event":"go"}},{"id":"ship","activity":"noop"}]}}' |
  fg config put --tenant acme --queue q --version 1 - >/dev/null
KEY=$(fg key create --operator --name bench | grep -o 'fgk_[0-9a-f_]*' | head -1)
# shellcheck disable=SC2086
"$FG" --db "$DB" serve --node-id bench ${SERVE_ARGS:-} --listen 127.0.0.1:0 --tls-cert node.pem \
  --tls-key node.key --tls-ca ca.pem >serve.log 2>&1 &
PID=$!
ADDR=
for _ in $(seq 1 100); do
  ADDR=$(sqlite3 "$DB" "SELECT address FROM nodes WHERE node_id = 'bench' AND stopped_at_ms IS NULL" 2>/dev/null || true)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the node did not publish its address" >&2; cat serve.log >&2; exit 1; }
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
echo "poll-bound (signal written to the database): $(latencies "<= $N" | stats)"
echo "through the node (--connect):                $(latencies "> $N" | stats)"
