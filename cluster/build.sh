#!/usr/bin/env bash
# Configures and builds Trellis (Release with debug info) into build/ with ccache and ninja.
# Usage: cluster/build.sh [extra cmake args...]   (run cluster/setup.sh first)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${TRELLIS_BUILD_DIR:-$ROOT/build}"
TORCH_PREFIX="$("$ROOT/.venv/bin/python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
# ccache with precompiled headers needs these sloppiness settings.
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# Share cached objects between checkouts (CI builds a fresh clone in another folder).
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" "$@" >/dev/null
cmake --build "$BUILD" -j "${TRELLIS_BUILD_JOBS:-2}"
