#!/usr/bin/env bash
# A single-node Slurm (Debian slurm-wlm 22.05 + munge) without systemd, entirely under DIR: its own
# munge key and socket, slurm.conf (the node line from `slurmd -C`), mpi.conf, and every state,
# spool, log and pid path. For trying the worker-group batch script on one machine (and for
# tests/integration/test_slurm.py); not for production.
#
#   cluster/slurm/local_slurm.sh start  DIR   start munged, slurmctld, slurmd; wait until the node is
#                                             idle; print `export SLURM_CONF=...` (eval it)
#   cluster/slurm/local_slurm.sh env    DIR   print the export lines again
#   cluster/slurm/local_slurm.sh status DIR   the daemons (by recorded PID) and `sinfo`; exit 1 unless all run
#   cluster/slurm/local_slurm.sh stop   DIR   scancel every job, wait for them, TERM the daemons by
#                                             their recorded PIDs, wait; idempotent
#
# Runs as root (SlurmUser=root). Environment: LOCAL_SLURM_CTLD_PORT / LOCAL_SLURM_SLURMD_PORT
# (default: free ports picked at start), LOCAL_SLURM_START_TIMEOUT (seconds, default 60),
# LOCAL_SLURM_KILL_WAIT (seconds between SIGTERM and SIGKILL when a job ends, default 30).
set -euo pipefail

usage() { echo "usage: $0 start|stop|status|env DIR" >&2; exit 2; }
(($# == 2)) || usage
CMD=$1
DIR=$(realpath -m "$2")
CONF=$DIR/slurm.conf
MUNGE_DIR=$DIR/munge
SOCK=$MUNGE_DIR/run/munge.socket
DAEMONS=(munged slurmctld slurmd)
START_TIMEOUT=${LOCAL_SLURM_START_TIMEOUT:-60}
KILL_WAIT=${LOCAL_SLURM_KILL_WAIT:-30}
export SLURM_CONF=$CONF

log() { echo "[local_slurm] $*" >&2; }
pid_file() { echo "$DIR/run/$1.pid"; }
log_file() { echo "$DIR/log/$1.log"; }

# The PID recorded for a daemon, if that process still runs and is that daemon.
running_pid() {
  local f pid
  f=$(pid_file "$1")
  [[ -s $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/comm ]] || return 1
  [[ $(</proc/"$pid"/comm) == "$1" ]] || return 1
  echo "$pid"
}

fail() {  # fail DAEMON MESSAGE: names the daemon and shows the tail of its logs
  local name=$1
  shift
  log "FAILED: $name: $*"
  local f
  for f in "$(log_file "$name")" "$DIR/log/$name.out"; do
    if [[ -s $f ]]; then
      echo "---- tail of $f ----" >&2
      tail -n 30 "$f" >&2
    fi
  done
  return 1
}

print_env() {
  echo "export SLURM_CONF=$CONF"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_config() {
  local host node_line ctld_port slurmd_port
  host=$(hostname -s)
  # `slurmd -C` prints the node's CPUs/sockets/cores/threads/memory as a NodeName line.
  node_line=$(slurmd -C | head -n 1)
  [[ $node_line == NodeName=* ]] || { log "slurmd -C printed no NodeName line: $node_line"; return 1; }
  node_line="${node_line/NodeName=* CPUs=/NodeName=$host NodeAddr=127.0.0.1 CPUs=} State=UNKNOWN"
  ctld_port=${LOCAL_SLURM_CTLD_PORT:-$(free_port)}
  slurmd_port=${LOCAL_SLURM_SLURMD_PORT:-$(free_port)}
  while [[ $slurmd_port == "$ctld_port" ]]; do slurmd_port=$(free_port); done
  cat >"$CONF" <<EOF
# Written by cluster/slurm/local_slurm.sh: a single-node Slurm under $DIR.
ClusterName=trellis-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd.%n
SlurmctldPidFile=$(pid_file slurmctld)
SlurmdPidFile=$(pid_file slurmd)
SlurmctldLogFile=$(log_file slurmctld)
SlurmdLogFile=$(log_file slurmd)
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
# Signals: a job's steps get SIGTERM on scancel / pre-emption / time limit, SIGKILL KillWait s later
# (trellis-worker checkpoints and hands its job back well within that).
KillWait=$KILL_WAIT
# Keep finished jobs visible to squeue/scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
InactiveLimit=0
$node_line
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  cat >"$DIR/mpi.conf" <<EOF
PMIxCliTmpDirBase=$DIR/pmix
EOF
}

start_daemon() {  # start_daemon NAME CMD...: setsid in the background, logs in DIR/log
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  local launched=$! deadline=$((SECONDS + 15))
  # The daemon writes its own pid file (setsid keeps the PID unless it had to fork).
  until running_pid "$name" >/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$launched" 2>/dev/null; then
      sleep 0.5
      running_pid "$name" >/dev/null && break
      fail "$name" "did not start (no running $name behind $(pid_file "$name"))"
      return 1
    fi
    sleep 0.1
  done
}

do_start() {
  local missing=() b
  for b in munged mungekey slurmctld slurmd sinfo srun; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if ((${#missing[@]})); then
    log "not installed: ${missing[*]} (cluster/setup.sh installs slurm-wlm and munge)"
    return 3
  fi
  if running_pid munged >/dev/null && running_pid slurmctld >/dev/null && running_pid slurmd >/dev/null; then
    log "already running under $DIR"
    print_env
    return 0
  fi
  do_stop >/dev/null 2>&1 || true  # whatever half of it runs
  mkdir -p "$DIR"/{run,log,state,spool,pmix,tmp} "$MUNGE_DIR/run"
  chmod 711 "$MUNGE_DIR"  # searchable (the socket lies below), not listable
  chmod 755 "$MUNGE_DIR/run"  # the socket's directory must be world-executable
  # munged refuses a world-inaccessible socket path: every directory above the socket must be searchable.
  chmod o+x "$DIR"

  [[ -s $MUNGE_DIR/munge.key ]] || mungekey -c -k "$MUNGE_DIR/munge.key" >"$DIR/log/mungekey.out" 2>&1 ||
    { fail mungekey "could not create $MUNGE_DIR/munge.key"; return 1; }
  chmod 600 "$MUNGE_DIR/munge.key"
  start_daemon munged munged -F --key-file="$MUNGE_DIR/munge.key" --socket="$SOCK" \
    --pid-file="$(pid_file munged)" --log-file="$(log_file munged)" --seed-file="$MUNGE_DIR/munged.seed" || return 1
  local deadline=$((SECONDS + 10))
  until [[ -S $SOCK ]]; do
    ((SECONDS < deadline)) || { fail munged "no socket $SOCK"; return 1; }
    sleep 0.1
  done

  write_config || { fail slurm.conf "could not write $CONF"; return 1; }
  mkdir -p "$DIR/spool/slurmd.$(hostname -s)"
  start_daemon slurmctld slurmctld -D -i -f "$CONF" || return 1
  start_daemon slurmd slurmd -D -f "$CONF" || return 1

  deadline=$((SECONDS + START_TIMEOUT))
  local state=""
  while :; do
    for name in "${DAEMONS[@]}"; do
      running_pid "$name" >/dev/null || { fail "$name" "exited while waiting for the node"; return 1; }
    done
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    [[ $state == idle ]] && break
    if ((SECONDS >= deadline)); then
      fail slurmctld "the node is not idle after ${START_TIMEOUT} s (sinfo: '${state:-no answer}')" || true
      fail slurmd "(its log, for the node's side)" || true
      return 1
    fi
    sleep 0.2
  done
  log "single-node Slurm up under $DIR (node $(hostname -s), $(sinfo -h -o %c) CPUs)"
  print_env
}

do_stop() {
  [[ -d $DIR/run ]] || { log "nothing to stop under $DIR"; return 0; }
  local name pid deadline rc=0
  if [[ -f $CONF ]] && running_pid slurmctld >/dev/null; then
    local jobs
    jobs=$(timeout 20 squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      # shellcheck disable=SC2086
      timeout 20 scancel $jobs 2>/dev/null || true
      deadline=$((SECONDS + KILL_WAIT + 30))
      while [[ -n $(timeout 20 squeue -h -o %i 2>/dev/null || true) ]]; do
        ((SECONDS < deadline)) || { log "jobs still listed after scancel: $(squeue -h -o '%i %T' | tr '\n' ' ')"; break; }
        sleep 0.5
      done
    fi
  fi
  # Job processes that outlived their job (slurmstepd and tasks carry SLURM_CONF=$CONF): by PID.
  local strays=() env
  while read -r env; do
    [[ -n $env ]] || continue
    pid=${env#/proc/}
    pid=${pid%/environ}
    ((pid == $$)) && continue
    for name in "${DAEMONS[@]}"; do [[ $(running_pid "$name" 2>/dev/null) == "$pid" ]] && continue 2; done
    if [[ $(cat /proc/"$pid"/comm 2>/dev/null) == slurmstepd ]] ||
        grep -qz '^SLURM_JOB_ID=' "/proc/$pid/environ" 2>/dev/null; then
      strays+=("$pid")
    fi
  done < <(grep -lzxF "SLURM_CONF=$CONF" /proc/[0-9]*/environ 2>/dev/null || true)
  if ((${#strays[@]})); then
    log "ending job processes left behind: ${strays[*]}"
    kill -TERM "${strays[@]}" 2>/dev/null || true
    sleep 2
    kill -KILL "${strays[@]}" 2>/dev/null || true
  fi
  for name in slurmd slurmctld munged; do
    pid=$(running_pid "$name") || continue
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 20))
    while [[ -d /proc/$pid ]] && [[ $(cat /proc/"$pid"/comm 2>/dev/null) == "$name" ]]; do
      if ((SECONDS >= deadline)); then
        fail "$name" "PID $pid did not exit within 20 s of SIGTERM; sending SIGKILL" || true
        kill -KILL "$pid" 2>/dev/null || true
        rc=1
        break
      fi
      sleep 0.1
    done
    rm -f "$(pid_file "$name")"
  done
  log "stopped (under $DIR)"
  return $rc
}

do_status() {
  local name pid rc=0
  for name in "${DAEMONS[@]}"; do
    if pid=$(running_pid "$name"); then
      echo "$name: running (PID $pid)"
    else
      echo "$name: not running"
      rc=1
    fi
  done
  if ((rc == 0)); then
    sinfo || rc=1
    squeue || rc=1
  fi
  return $rc
}

case $CMD in
  start)
    rc=0
    do_start || rc=$?
    if ((rc == 1)); then  # leave no half-started Slurm behind
      log "stopping what was started"
      do_stop >/dev/null 2>&1 || true
    fi
    exit $rc
    ;;
  stop) do_stop ;;
  status) do_status ;;
  env) print_env ;;
  *) usage ;;
esac
