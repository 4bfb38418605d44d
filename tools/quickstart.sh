#!/usr/bin/env bash
# The README's first command: installs packages, builds flowgate (Release) and
# runs a short demo on its embedded SQLite default (./flowgate.db): creates a
# tenant, stores a pipeline version, serves a node, runs the pipeline to its
# wait, signals it, and shows the run and its history.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFLOWGATE_BUILD_TESTS=OFF \
  -DFLOWGATE_BUILD_BENCHMARKS=OFF > /dev/null
cmake --build build -j "$(nproc)" --target flowgate
fg=build/tools/flowgate
db="${FLOWGATE_DB:-flowgate.db}"
echo
echo "== flowgate db migrate"
"$fg" --db "$db" db migrate
echo "== flowgate tenant put acme examples/tenant-acme.json"
"$fg" --db "$db" tenant put acme examples/tenant-acme.json
echo "== flowgate config put --tenant acme --queue orders --version 1 examples/order-fulfillment.json"
"$fg" --db "$db" config put --tenant acme --queue orders --version 1 examples/order-fulfillment.json
echo "== flowgate config activate --tenant acme --queue orders --version 1"
"$fg" --db "$db" config activate --tenant acme --queue orders --version 1
echo "== flowgate config list --tenant acme"
"$fg" --db "$db" config list --tenant acme
echo "== flowgate tenant list"
"$fg" --db "$db" tenant list
echo "== flowgate config put --tenant acme --queue demo --version 1 examples/order-demo.json"
"$fg" --db "$db" config put --tenant acme --queue demo --version 1 examples/order-demo.json
echo "== flowgate serve (in the background, stopped below)"
"$fg" --db "$db" serve --node-id quickstart > quickstart-serve.log 2>&1 &
serve_pid=$!
trap 'kill -TERM "$serve_pid" 2>/dev/null || true' EXIT
echo "== flowgate run start --tenant acme --queue demo --wait"
"$fg" --db "$db" run start --tenant acme --queue demo \
  --input '{"order": "A-1", "items": [{"sku": "x"}, {"sku": "y"}]}' --wait --timeout-ms 20000
run=$("$fg" --db "$db" --json run list --tenant acme --status WAITING | sed -n 's/.*"run":\([0-9]*\).*/\1/p' | tail -n 1)
echo "== flowgate run signal $run --event approved"
"$fg" --db "$db" run signal "$run" --tenant acme --event approved --payload '{"by": "ann"}'
echo "== flowgate run wait $run"
"$fg" --db "$db" run wait "$run" --tenant acme --timeout-ms 20000
echo "== flowgate run history $run"
"$fg" --db "$db" run history "$run" --tenant acme
echo "== flowgate quota summary --tenant acme (every step attempt above was reserved)"
"$fg" --db "$db" quota summary --tenant acme
echo "== flowgate cluster status (the serving node, its incarnation and heartbeat)"
"$fg" --db "$db" cluster status
echo "== stopping serve (pid $serve_pid)"
kill -TERM "$serve_pid"
wait "$serve_pid" || true
trap - EXIT
cat quickstart-serve.log
echo "== flowgate db info"
"$fg" --db "$db" db info
echo
echo "flowgate is built at $fg; the database is $db. Try '$fg --help'."
