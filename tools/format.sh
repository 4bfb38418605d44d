#!/usr/bin/env bash
# Checks (default) or applies (--fix) .clang-format on every tracked C++ file.
# CI runs the check: a change that is not formatted fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
if ! clang-format --dry-run --Werror "${files[@]}" 2>/tmp/flowgate-format.$$; then
  grep -oE '^[^ :]+:[0-9]+:[0-9]+: (warning|error)' /tmp/flowgate-format.$$ | cut -d: -f1 |
    sort -u | sed 's/^/not formatted: /'
  rm -f /tmp/flowgate-format.$$
  echo "format: run 'bash tools/format.sh --fix'" >&2
  exit 1
fi
rm -f /tmp/flowgate-format.$$
echo "format: ${#files[@]} files formatted"
