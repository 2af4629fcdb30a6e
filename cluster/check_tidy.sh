#!/usr/bin/env bash
# clang-tidy (.clang-tidy) on the torch-free code: common/, protocol/, registry/, coordinator/,
# the worker's coordinator client and the CLI's torch-free files, with the build's
# compile_commands.json (run cluster/build.sh first). Fails only on the checks named in
# .clang-tidy's WarningsAsErrors (those that pass on the tree); the other checks' findings are
# listed and counted, and the full output is in BUILD/clang-tidy.log.
# About 3 minutes on 2 cores (TRELLIS_TIDY_JOBS, default 2).
# Usage: cluster/check_tidy.sh [FILE-REGEX...]   (default: the fixed list below)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${TRELLIS_BUILD_DIR:-$ROOT/build}"
if [[ ! -f "$BUILD/compile_commands.json" ]]; then
  echo "check_tidy: $BUILD/compile_commands.json is missing: run cluster/build.sh first" >&2
  exit 2
fi
R="$(printf '%s' "$ROOT" | sed 's/[.[\*^$+?(){}|]/\\&/g')"  # the root as a regex
files=("$@")
if ((${#files[@]} == 0)); then
  files=(
    "^$R/(common|protocol|registry|coordinator)/.*\\.cpp\$"
    "^$R/worker/(coordinator_client|heartbeat_loop|coordinator_jobs|disk_retention)\\.cpp\$"
    "^$R/cli/(main|prediction_input|adapter_source|registry_commands|fetch_command|server_client|job_commands|job_view)\\.cpp\$"
  )
fi
LOG="$BUILD/clang-tidy.log"
start=$SECONDS
status=0
# Headers of the project are checked where these files include them; system and LibTorch ones not.
run-clang-tidy -j "${TRELLIS_TIDY_JOBS:-2}" -quiet -p "$BUILD" \
  -header-filter="^$R/(common|protocol|registry|coordinator|worker|cli|trainer)/" "${files[@]}" 2>&1 \
  | sed 's/\x1b\[[0-9;]*m//g' >"$LOG" || status=1
checked=$(grep -c '^clang-tidy' "$LOG" || true)
# A finding: "FILE:LINE:COL: warning|error: message [check(,-warnings-as-errors)]"; a header's finding
# shows once per file that includes it: count each one once.
findings=$(grep -E '^/[^ ]+:[0-9]+:[0-9]+: (warning|error): .*\]$' "$LOG" | sort -u || true)
errors=$(grep -E ': error: .*\]$' <<<"$findings" | grep -v 'clang-diagnostic-' || true)
echo "clang-tidy: $checked file(s) in $((SECONDS - start)) s; findings by check (each place once):"
if [[ -n "$findings" ]]; then
  grep -oE '\[[a-z0-9.,-]+\]$' <<<"$findings" | tr -d '[]' | sed 's/,-warnings-as-errors/ (error)/' \
    | sort | uniq -c | sort -rn | sed 's/^/  /'
fi
if grep -qE ': error: .*clang-diagnostic-|^Error while processing' "$LOG"; then
  echo "clang-tidy could not compile some files:"
  grep -E ': error: .*clang-diagnostic-|^Error while processing' "$LOG" | sed "s|^$ROOT/||" | head -20
  status=1
fi
if [[ -n "$errors" ]]; then
  echo "clang-tidy errors (checks in .clang-tidy's WarningsAsErrors):"
  sed "s|^$ROOT/||" <<<"$errors"
  status=1
fi
[[ $status == 0 ]] && echo "clang-tidy: OK (full output: $LOG)" || echo "clang-tidy: FAILED (full output: $LOG)"
exit $status
