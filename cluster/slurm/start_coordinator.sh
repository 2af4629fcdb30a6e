#!/usr/bin/env bash
# Starts trellis-coordinator on a service node (outside Slurm: it must outlive every worker-group
# job), in the background, and prints where it listens:
#   cluster/slurm/start_coordinator.sh          start; prints `export TRELLIS_COORDINATOR_URL=...`
#   cluster/slurm/start_coordinator.sh stop     SIGTERM to the PID in the pid file, wait (idempotent)
#
# Settings (environment variables):
#   TRELLIS_REGISTRY          required: adapter registry root on the shared filesystem
#   TRELLIS_STATE_DIR         required: job database (jobs.db) and uploaded data; a local disk of
#                             the service node is best (SQLite), it must survive restarts
#   TRELLIS_AUTH_CONFIG       required: {"tokens": [{"token": ..., "role": user|worker|admin}]}
#   TRELLIS_LISTEN            HOST:PORT (default 0.0.0.0:8080; reachable from the compute nodes)
#   TRELLIS_CONFIG_DIR        backbones served (default: configs/ of this checkout)
#   TRELLIS_COORDINATOR_BIN   default: build/coordinator/trellis-coordinator of this checkout, else PATH
#   TRELLIS_LEASE_TTL         seconds a lease lives without a heartbeat (default 30)
#   TRELLIS_HEARTBEAT         seconds between heartbeats told to groups (default 5)
#   TRELLIS_MAX_ATTEMPTS      default attempts per job (default 3); a pre-empted attempt counts
#   TRELLIS_CREATE_REGISTRY   1: create the registry root if missing (default 0)
#   TRELLIS_COORDINATOR_ARGS  extra trellis-coordinator options, word-split
#   TRELLIS_COORDINATOR_LOG   default: $TRELLIS_STATE_DIR/coordinator.log
#   TRELLIS_COORDINATOR_PID   pid file (default: $TRELLIS_STATE_DIR/coordinator.pid); its stdout,
#                             the JSON line saying where it listens, goes beside it (*.listening)
#   TRELLIS_START_TIMEOUT     seconds to wait for the listening line (default 30)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { echo "start_coordinator.sh: $*" >&2; }

: "${TRELLIS_STATE_DIR:?start_coordinator.sh: set TRELLIS_STATE_DIR}"
PID_FILE=${TRELLIS_COORDINATOR_PID:-$TRELLIS_STATE_DIR/coordinator.pid}
LOG=${TRELLIS_COORDINATOR_LOG:-$TRELLIS_STATE_DIR/coordinator.log}

running_pid() {
  [[ -s $PID_FILE ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/comm ]] || return 1
  [[ $(</proc/"$pid"/comm) == trellis-coordin* ]] || return 1  # comm is cut at 15 characters
  echo "$pid"
}

if [[ ${1:-start} == stop ]]; then
  pid=$(running_pid) || { log "not running (no live process behind $PID_FILE)"; rm -f "$PID_FILE"; exit 0; }
  kill -TERM "$pid"
  for _ in $(seq 600); do
    [[ -d /proc/$pid ]] || break
    sleep 0.1
  done
  if [[ -d /proc/$pid ]]; then
    log "PID $pid did not exit within 60 s of SIGTERM"
    exit 1
  fi
  rm -f "$PID_FILE"
  log "stopped (PID $pid)"
  exit 0
fi
[[ ${1:-start} == start ]] || { echo "usage: $0 [start|stop]" >&2; exit 2; }

: "${TRELLIS_REGISTRY:?start_coordinator.sh: set TRELLIS_REGISTRY (shared filesystem)}"
: "${TRELLIS_AUTH_CONFIG:?start_coordinator.sh: set TRELLIS_AUTH_CONFIG}"
LISTEN=${TRELLIS_LISTEN:-0.0.0.0:8080}
BIN=${TRELLIS_COORDINATOR_BIN:-}
if [[ -z $BIN ]]; then
  if [[ -x $ROOT/build/coordinator/trellis-coordinator ]]; then BIN=$ROOT/build/coordinator/trellis-coordinator
  else BIN=$(command -v trellis-coordinator || true); fi
fi
[[ -n $BIN && -x $BIN ]] || { log "trellis-coordinator not found: set TRELLIS_COORDINATOR_BIN"; exit 2; }
if pid=$(running_pid); then
  log "already running (PID $pid, pid file $PID_FILE)"
  exit 1
fi
mkdir -p "$TRELLIS_STATE_DIR" "$(dirname "$PID_FILE")" "$(dirname "$LOG")"

args=(--listen "$LISTEN" --registry "$TRELLIS_REGISTRY" --auth-config "$TRELLIS_AUTH_CONFIG"
  --state-dir "$TRELLIS_STATE_DIR" --config-dir "${TRELLIS_CONFIG_DIR:-$ROOT/configs}"
  --lease-ttl "${TRELLIS_LEASE_TTL:-30}" --heartbeat "${TRELLIS_HEARTBEAT:-5}"
  --max-attempts "${TRELLIS_MAX_ATTEMPTS:-3}")
[[ ${TRELLIS_CREATE_REGISTRY:-0} == 1 ]] && args+=(--create-registry)
# shellcheck disable=SC2206
[[ -n ${TRELLIS_COORDINATOR_ARGS:-} ]] && args+=($TRELLIS_COORDINATOR_ARGS)

# stdout (kept in $OUT) carries one JSON line once it listens ({"listening": "HOST:PORT", "port": N, ...}).
OUT=${PID_FILE%.pid}.listening
setsid "$BIN" "${args[@]}" </dev/null >"$OUT" 2>>"$LOG" &
pid=$!
echo "$pid" >"$PID_FILE"
deadline=$((SECONDS + ${TRELLIS_START_TIMEOUT:-30}))
until [[ -s $OUT ]] && grep -q '"port"' "$OUT"; do
  if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
    log "trellis-coordinator (PID $pid) did not start listening; tail of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    exit 1
  fi
  sleep 0.1
done
line=$(head -n 1 "$OUT")
port=$(grep -o '"port": *[0-9]*' <<<"$line" | grep -o '[0-9]*$')
host=${LISTEN%:*}
[[ $host == 0.0.0.0 || $host == "::" || $host == "[::]" || -z $host ]] && host=$(hostname -f 2>/dev/null || hostname)
log "trellis-coordinator PID $pid (pid file $PID_FILE, log $LOG): $line"
echo "export TRELLIS_COORDINATOR_URL=http://$host:$port"
