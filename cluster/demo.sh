#!/usr/bin/env bash
# README command 1: set-up, build, then the main job end to end on embedded defaults, the way a
# user runs it: start trellis-coordinator and a local 2-rank worker group (mpirun), submit the UCI
# sentiment job (all-MiniLM-L6-v2, Houlsby adapters) with `trellis submit --follow`, fetch the
# artifact over HTTP, evaluate it on the held-out test split, predict, and stop everything.
# Everything lives under runs/demo-<time>/ (registry, job state, checkpoints, logs, tokens).
# Only processes started here are stopped, by PID. Set DEMO_LOCAL=1 for the old one-process run
# (`trellis train` / eval / predict, no coordinator).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/cluster/setup.sh"
"$ROOT/cluster/build.sh"
BUILD="${TRELLIS_BUILD_DIR:-$ROOT/build}"
TRELLIS="$BUILD/cli/trellis"
RUN="$ROOT/runs/demo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RUN"
SENTENCES=("What a wonderful little phone, I love it." "The food was cold and the service was slow.")

if [[ "${DEMO_LOCAL:-0}" == 1 ]]; then
  echo "== train -> $RUN/artifact"
  "$TRELLIS" train "$ROOT/configs/jobs/uci-sentiment.json" --out "$RUN/artifact"
  "$TRELLIS" eval --adapter "$RUN/artifact" --data "$ROOT/data/uci-sentiment/test.jsonl"
  printf '%s\n' "${SENTENCES[@]}" | "$TRELLIS" predict --adapter "$RUN/artifact"
  exit 0
fi

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Fresh tokens for this run (never printed).
USER_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WORKER_TOKEN="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
umask 077
printf '{"tokens": [{"token": "%s", "role": "user"}, {"token": "%s", "role": "worker"}]}\n' \
  "$USER_TOKEN" "$WORKER_TOKEN" > "$RUN/auth.json"
echo "$USER_TOKEN" > "$RUN/user.token"
echo "$WORKER_TOKEN" > "$RUN/worker.token"
umask 022

PIDS=()
stop_all() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT

echo "== start trellis-coordinator (state and registry under $RUN)"
"$BUILD/coordinator/trellis-coordinator" --listen 127.0.0.1:0 --registry "$RUN/registry" --create-registry \
  --state-dir "$RUN/state" --auth-config "$RUN/auth.json" > "$RUN/coordinator.out" 2> "$RUN/coordinator.log" &
PIDS+=($!)
for _ in $(seq 100); do [[ -s "$RUN/coordinator.out" ]] && break; sleep 0.1; done
PORT="$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$RUN/coordinator.out")"
[[ -n "$PORT" ]] || { cat "$RUN/coordinator.log"; echo "the coordinator did not start" >&2; exit 1; }
export TRELLIS_SERVER="http://127.0.0.1:$PORT" TRELLIS_TOKEN_FILE="$RUN/user.token"
echo "   listening on $TRELLIS_SERVER"

echo "== start a worker group: 2 ranks x 1 thread (mpirun), backbone resident"
mpirun -np 2 --bind-to none "$BUILD/worker/trellis-worker" --coordinator "$TRELLIS_SERVER" \
  --token-file "$RUN/worker.token" --registry "$RUN/registry" --checkpoint-dir "$RUN/checkpoints" \
  --checkpoint-every 50 --threads 1 -q > "$RUN/worker.out" 2> "$RUN/worker.log" &
PIDS+=($!)

echo "== submit configs/jobs/uci-sentiment.json and follow it"
# stdout: the job id, then (once it succeeded) the artifact reference task@N.
SUBMITTED="$("$TRELLIS" submit "$ROOT/configs/jobs/uci-sentiment.json" --follow)"
ARTIFACT="${SUBMITTED##*$'\n'}"
echo "   job ${SUBMITTED%%$'\n'*} -> artifact $ARTIFACT"
"$TRELLIS" jobs

echo "== fetch $ARTIFACT over HTTP, evaluate on the held-out test split, predict"
"$TRELLIS" fetch "$ARTIFACT" -o "$RUN/artifact"
"$TRELLIS" eval --adapter "$RUN/artifact" --data "$ROOT/data/uci-sentiment/test.jsonl"
printf '%s\n' "${SENTENCES[@]}" | "$TRELLIS" predict --adapter "$RUN/artifact"

echo "== stop the worker group and the coordinator"
stop_all
trap - EXIT
echo "done: $RUN"
