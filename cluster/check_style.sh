#!/usr/bin/env bash
# Cheap source checks, no build needed (cluster/test.sh runs them before the build):
#   1. include layout: allowed edges between folders, no LibTorch in torch-free folders, no cycles
#      (cluster/check_layout.py);
#   2. no line over 120 characters in .h/.cpp files (check_layout.py; tests/reference and
#      third-party folders are exempt);
#   3. clang-format --dry-run --Werror with .clang-format on every .h/.cpp file.
# TRELLIS_SKIP_FORMAT_CHECK=1 skips 2 and 3 (for a quick local run); 1 always runs.
# Usage: cluster/check_style.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
status=0

echo "== include layout (cluster/check_layout.py) =="
layout_args=()
if [[ "${TRELLIS_SKIP_FORMAT_CHECK:-0}" == 1 ]]; then layout_args+=(--no-line-length); fi
python3 cluster/check_layout.py "${layout_args[@]}" || status=1

if [[ "${TRELLIS_SKIP_FORMAT_CHECK:-0}" == 1 ]]; then
  echo "== clang-format and line length: skipped (TRELLIS_SKIP_FORMAT_CHECK=1) =="
else
  echo "== clang-format --dry-run --Werror ($(clang-format --version | grep -o 'version [0-9.]*')) =="
  # Tracked and new (not ignored) files; build dirs, .venv and third-party code are not sources here.
  mapfile -t files < <(git ls-files -co --exclude-standard -- '*.h' '*.cpp' \
                         | grep -vE '(^|/)(third_party|third-party|external)/|^tests/reference/' || true)
  if ! printf '%s\0' "${files[@]}" | xargs -0 clang-format --dry-run --Werror 2>/tmp/clang-format.$$; then
    # One "FILE:LINE:COL: error: code should be clang-formatted" per change (+ the source line).
    grep -oE '^[^ :]+\.(h|cpp):[0-9]+:[0-9]+: error:' /tmp/clang-format.$$ | cut -d: -f1 >/tmp/clang-format-files.$$ || true
    sort /tmp/clang-format-files.$$ | uniq -c | sort -rn | awk '{printf "  %s: %d change(s)\n", $2, $1}'
    echo "clang-format: $(wc -l </tmp/clang-format-files.$$) change(s) in" \
         "$(sort -u /tmp/clang-format-files.$$ | wc -l) file(s)." \
         "Fix: clang-format -i FILE (or TRELLIS_SKIP_FORMAT_CHECK=1 to skip this step)"
    status=1
  fi
  rm -f /tmp/clang-format.$$ /tmp/clang-format-files.$$
fi
exit $status
