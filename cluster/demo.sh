#!/usr/bin/env bash
# README command 1: set-up, build, then the main job end to end on embedded defaults:
# train Houlsby adapters for UCI sentiment on all-MiniLM-L6-v2, evaluate on the test split, predict.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/cluster/setup.sh"
"$ROOT/cluster/build.sh"
TRELLIS="${TRELLIS_BUILD_DIR:-$ROOT/build}/cli/trellis"
OUT="$ROOT/runs/uci-sentiment-$(date +%Y%m%d-%H%M%S)"
echo "== train -> $OUT"
"$TRELLIS" train "$ROOT/configs/jobs/uci-sentiment.json" --out "$OUT"
echo "== eval on the held-out test split"
"$TRELLIS" eval --adapter "$OUT" --data "$ROOT/data/uci-sentiment/test.jsonl"
echo "== predict"
printf '%s\n' "What a wonderful little phone, I love it." "The food was cold and the service was slow." \
  | "$TRELLIS" predict --adapter "$OUT"
