#!/usr/bin/env bash
# The package test (CTest `package.install_and_deb`): installs BUILD_DIR's
# tree into a temporary prefix, builds examples/embed.cpp against it with
# find_package(flowgate) (examples/consumer) and runs it on a fresh SQLite
# store; then makes the .debs with CPack and checks what they hold, and runs
# the binary unpacked from the server package. Removes what it made.
# Usage: tools/package_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
tmp=$(mktemp -d /tmp/flowgate-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "package test: $*" >&2
  exit 1
}

echo "== cmake --install (server and dev) into $tmp/prefix"
cmake --install "$build" --prefix "$tmp/prefix" --component server >/dev/null
cmake --install "$build" --prefix "$tmp/prefix" --component dev >/dev/null
for f in bin/flowgate lib/systemd/system/flowgate.service include/flowgate/actors/node.hpp \
  include/flowgate/api/http_server.hpp lib/cmake/flowgate/flowgateConfig.cmake \
  lib/libflowgate_actors.a lib/libflowgate_http.a; do
  [ -e "$tmp/prefix/$f" ] || fail "the installed tree has no $f"
done
"$tmp/prefix/bin/flowgate" --version | grep -q "^flowgate $version " ||
  fail "installed 'flowgate --version' does not say $version"

echo "== an embedder's build: find_package(flowgate), examples/embed.cpp"
cmake -S "$src/examples/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; fail "find_package(flowgate) failed"; }
cmake --build "$tmp/consumer" >"$tmp/build.log" 2>&1 ||
  { tail -50 "$tmp/build.log" >&2; fail "the embed example did not build against the installed tree"; }
(cd "$tmp" && timeout 60 "$tmp/consumer/embed" "$tmp/embed.db") ||
  fail "the embed example built against the installed tree failed"

echo "== cpack -G DEB"
(cd "$build" && cpack -G DEB -B "$tmp/deb" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log" >&2; fail "cpack failed"; }
server_deb=$(ls "$tmp"/deb/flowgate_"$version"_*.deb)
dev_deb=$(ls "$tmp"/deb/flowgate-dev_"$version"_*.deb)
# Listed first: grep -q would close the pipe early (pipefail).
server_files=$(dpkg-deb -c "$server_deb")
dev_files=$(dpkg-deb -c "$dev_deb")
grep -q '\./usr/bin/flowgate$' <<<"$server_files" || fail "the .deb has no /usr/bin/flowgate"
grep -q 'lib/systemd/system/flowgate.service$' <<<"$server_files" ||
  fail "the .deb has no systemd unit"
grep -q 'flowgate.default.example$' <<<"$server_files" ||
  fail "the .deb has no example /etc/default/flowgate"
dpkg-deb -f "$server_deb" Depends | grep -q 'libpq5' || fail "the .deb does not depend on libpq5"
# The allocator the binary links (FLOWGATE_ALLOCATOR=jemalloc) is a dependency too.
if ldd "$tmp/prefix/bin/flowgate" | grep -q libjemalloc; then
  dpkg-deb -f "$server_deb" Depends | grep -q 'libjemalloc2' ||
    fail "the binary links jemalloc but the .deb does not depend on libjemalloc2"
fi
grep -q 'flowgateConfig.cmake$' <<<"$dev_files" || fail "the -dev .deb has no CMake package"
grep -q 'include/flowgate/actors/node.hpp$' <<<"$dev_files" || fail "the -dev .deb has no headers"
dpkg-deb -x "$server_deb" "$tmp/unpacked"
"$tmp/unpacked/usr/bin/flowgate" --version | grep -q "^flowgate $version " ||
  fail "the packaged binary does not say $version"
echo "package test: $(basename "$server_deb") ($(dpkg-deb -f "$server_deb" Installed-Size) KiB," \
  "depends: $(dpkg-deb -f "$server_deb" Depends)), $(basename "$dev_deb"); embed example built and ran"
