# Sourced by the cluster benchmarks (signal_latency.sh, cluster_news_latency.sh)
# after they set FG (the binary) and BENCH (a name): a temp directory $D
# (removed at exit unless KEEP_DIR is set, after the nodes whose pids are in
# PID, PID_A and PID_B are stopped), made the current one; a CA, a node and
# a client certificate made there with openssl (clients use them through
# FLOWGATE_TLS_*); a migrated SQLite store $DB with `fg` to run commands on
# it; and `address_of DB NODE`, the address a serving node publishes (up
# to 10 s).
D=$(mktemp -d "/tmp/flowgate-$BENCH.XXXXXX")
PID=
PID_A=
PID_B=
cleanup() {
  for p in ${PID:-} ${PID_A:-} ${PID_B:-}; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -z "${KEEP_DIR:-}" ]; then rm -rf "$D"; else echo "kept $D" >&2; fi
}
trap cleanup EXIT
cd "$D"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=bench-ca" 2>/dev/null
for n in node client; do
  openssl req -newkey rsa:2048 -nodes -keyout $n.key -out $n.csr -subj "/CN=$n" 2>/dev/null
  openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $n.pem -days 1 2>/dev/null
done
export FLOWGATE_TLS_CERT=$PWD/client.pem FLOWGATE_TLS_KEY=$PWD/client.key FLOWGATE_TLS_CA=$PWD/ca.pem
address_of() { # DB NODE
  local a
  for _ in $(seq 1 100); do
    a=$(sqlite3 "$1" "SELECT address FROM nodes WHERE node_id = '$2' AND stopped_at_ms IS NULL" 2>/dev/null || true)
    [ -n "$a" ] && { echo "$a"; return; }
    sleep 0.1
  done
  echo "node $2 did not publish its address" >&2
  return 1
}
DB=$D/fg.db
fg() { "$FG" --db "$DB" "$@"; }
fg db migrate >/dev/null
