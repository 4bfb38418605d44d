#!/usr/bin/env bash
# The examples must keep working: every example pipeline is accepted by
# `config put`, and the quickstart's fan-out order demo runs to its wait,
# takes the signal and completes with its items in order, on a fresh
# database with a `serve` bounded in time and stopped by its pid.
# Usage: check_examples.sh FLOWGATE_BINARY EXAMPLES_DIR
set -euo pipefail
fg=$1
ex=$2
work=$(mktemp -d)
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then kill -TERM "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
db="$work/ex.db"
"$fg" --db "$db" tenant put acme "$ex/tenant-acme.json" > /dev/null
for f in order-demo order-fulfillment billing order-with-billing; do
  "$fg" --db "$db" config put --tenant acme --queue "$f" --version 1 "$ex/$f.json" > /dev/null
done
"$fg" --db "$db" schedule put --tenant acme --id nightly "$ex/schedule-nightly.json" > /dev/null
timeout 120 "$fg" --db "$db" serve --node-id examples --poll-ms 20 > "$work/serve.log" 2>&1 &
serve_pid=$!
"$fg" --db "$db" run start --tenant acme --queue order-demo \
  --input '{"order": "A-1", "items": [{"sku": "x"}, {"sku": "y"}, {"sku": "z"}]}' \
  --wait --timeout-ms 30000 > "$work/start.out"
grep -q 'WAITING' "$work/start.out"
"$fg" --db "$db" run signal 1 --tenant acme --event approved --payload '{"by": "ann"}' > /dev/null
"$fg" --db "$db" --json run wait 1 --tenant acme --timeout-ms 30000 > "$work/end.out"
grep -q '"status":"COMPLETED"' "$work/end.out" || { cat "$work/end.out" "$work/serve.log"; exit 1; }
grep -q '"reserved":\[{"n":0,"sku":"x"},{"n":1,"sku":"y"},{"n":2,"sku":"z"}\]' "$work/end.out" \
  || { cat "$work/end.out"; exit 1; }
"$fg" --db "$db" replay --all --tenant acme > /dev/null
"$fg" --db "$db" check > /dev/null
echo "examples: ok"
