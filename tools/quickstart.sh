#!/usr/bin/env bash
# The README's first command: installs packages, builds flowgate (Release) and
# runs a short demo on its embedded SQLite default (./flowgate.db): creates a
# tenant, stores a pipeline version, and shows it.
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
echo "== flowgate db info"
"$fg" --db "$db" db info
echo
echo "flowgate is built at $fg; the database is $db. Try '$fg --help'."
