#!/usr/bin/env bash
# README command 2: set-up, build, and every test (unit, parity against HF, CLI end to end).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/cluster/setup.sh"
"$ROOT/cluster/build.sh"
cd "${TRELLIS_BUILD_DIR:-$ROOT/build}"
# Two test processes at a time; each LibTorch test uses one intra-op thread.
OMP_NUM_THREADS=1 ctest --output-on-failure -j 2 --timeout 900
# Compile-only CUDA build: the CUDA model code, the NCCL communicator and the GPU bench compile.
echo "== CUDA compile check (cluster/cuda_compile_check.sh) =="
"$ROOT/cluster/cuda_compile_check.sh"
