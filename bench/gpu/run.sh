#!/usr/bin/env bash
# GPU check (on the GPU machine): builds the trainer, trellis_nccl and trellis_gpu_bench against
# this machine's Python torch (which must have CUDA; NCCL from the nvidia-nccl wheel beside it or
# NCCL_ROOT), without MPI (TRELLIS_GPU_ONLY), and runs the bench (gpu_train_bench.cpp).
# Needs: python3 with a CUDA torch, nvcc, CMake >= 3.25, a C++20 compiler, and gpu-bundle/
# (bench/gpu/make_bundle.sh, made on a Debian development machine) in the repository root.
# Writes build.log, bench.log and gpu_bench.json under $OUT when OUT is set.
# Usage: bench/gpu/run.sh [bench options: --steps N --warmup N --batch B --seq L --iters N]
# Environment: PYTHON (python3), CUDA_HOME, TORCH_CUDA_ARCH_LIST (9.0), TRELLIS_GPU_BUILD_DIR
# (build-gpu), TRELLIS_GPU_BUNDLE (gpu-bundle).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
BUILD="${TRELLIS_GPU_BUILD_DIR:-$ROOT/build-gpu}"
BUNDLE="${TRELLIS_GPU_BUNDLE:-$ROOT/gpu-bundle}"
LOGS="${OUT:-$BUILD}"
log() { echo "[gpu] $*" >&2; }

[[ -f $BUNDLE/VERSIONS ]] || { log "missing $BUNDLE: run bench/gpu/make_bundle.sh on a Debian machine first"; exit 2; }
read -r TORCH_PREFIX TORCH_VERSION TORCH_CUDA < <("$PYTHON" -c \
  'import torch; print(torch.utils.cmake_prefix_path, torch.__version__, torch.version.cuda)')
[[ -n ${TORCH_PREFIX:-} ]] || { log "$PYTHON cannot import torch"; exit 2; }
log "torch $TORCH_VERSION (CUDA $TORCH_CUDA) from $TORCH_PREFIX"
if [[ $TORCH_CUDA == None ]]; then
  log "this torch has no CUDA: the GPU-only build needs a CUDA torch; CMake will stop at that check"
fi
CUDA_ROOT="${CUDA_HOME:-}"
if [[ -z $CUDA_ROOT && -x /usr/local/cuda/bin/nvcc ]]; then CUDA_ROOT=/usr/local/cuda; fi
if [[ -z $CUDA_ROOT ]] && command -v nvcc >/dev/null; then CUDA_ROOT="$(dirname "$(dirname "$(command -v nvcc)")")"; fi
cuda_args=()
[[ -n $CUDA_ROOT ]] && cuda_args=(-DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCMAKE_CUDA_COMPILER="$CUDA_ROOT/bin/nvcc")
generator=(-G "Unix Makefiles")
command -v ninja >/dev/null && generator=(-G Ninja)

mkdir -p "$BUILD" "$LOGS"
log "configuring $BUILD (log: $LOGS/build.log)"
if ! cmake -S "$ROOT" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTRELLIS_GPU_ONLY=ON \
    -DCMAKE_PREFIX_PATH="$BUNDLE;$TORCH_PREFIX" -DOPENSSL_ROOT_DIR="$BUNDLE" -DOPENSSL_USE_STATIC_LIBS=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" "${cuda_args[@]}" \
    >"$LOGS/build.log" 2>&1; then
  grep -E -A4 'CMake Error' "$LOGS/build.log" >&2 || tail -30 "$LOGS/build.log" >&2
  log "FAILED: CMake configure"
  exit 1
fi
log "building trellis_gpu_bench"
if ! cmake --build "$BUILD" -j "$(nproc)" --target trellis_gpu_bench >>"$LOGS/build.log" 2>&1; then
  tail -40 "$LOGS/build.log" >&2
  log "FAILED: build"
  exit 1
fi
log "running the bench (log: $LOGS/bench.log)"
"$BUILD/bench/gpu/trellis_gpu_bench" "$@" 2>&1 | tee "$LOGS/bench.log"
