#!/usr/bin/env bash
# Compile-only CUDA build (CI): proves that the CUDA-capable trainer (trellis_trainer), the NCCL
# communicator (trellis_nccl) and the GPU bench (trellis_gpu_bench_objects) compile against the
# CUDA LibTorch and NCCL. Links and runs nothing: there is no GPU, and the CUDA runtime wheels
# that torch needs at run time are not installed. Fails if trellis_nccl is not configured.
#  - Installs once (a stamp file marks it done) torch 2.14.1 (CUDA 13) and nvidia-nccl-cu13,
#    without dependencies (~0.8 GB of wheels), into a venv outside the repository.
#  - CUDA toolkit: $CUDA_HOME, else /usr/local/cuda, else the one of `nvcc` on PATH. Without
#    one (or with TRELLIS_CUDA_FROM_WHEELS=1), the toolkit's pip wheels (nvcc, runtime, cccl, crt,
#    nvvm; ~0.1 GB) go into the venv and serve as the toolkit.
# Usage: cluster/cuda_compile_check.sh   (after cluster/setup.sh)
# Environment: TRELLIS_CUDA_VENV, TRELLIS_CUDA_BUILD_DIR (default build-cuda), TRELLIS_BUILD_JOBS.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION=2.14.1 NCCL_VERSION=2.30.7
VENV="${TRELLIS_CUDA_VENV:-$HOME/.cache/trellis/venv-torch-$TORCH_VERSION-cu13}"
BUILD="${TRELLIS_CUDA_BUILD_DIR:-$ROOT/build-cuda}"
log() { echo "[cuda-check] $*" >&2; }

stamp="$VENV/.trellis-torch-$TORCH_VERSION-nccl-$NCCL_VERSION"
if [[ ! -f $stamp ]]; then
  log "installing torch==$TORCH_VERSION and nvidia-nccl-cu13==$NCCL_VERSION (no dependencies) into $VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --no-deps "torch==$TORCH_VERSION" "nvidia-nccl-cu13==$NCCL_VERSION"
  touch "$stamp"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# The CUDA toolkit (torch's CMake config needs nvcc, cuda_runtime.h and libcudart).
CUDA_ROOT="${CUDA_HOME:-}"
if [[ ${TRELLIS_CUDA_FROM_WHEELS:-0} == 1 ]]; then CUDA_ROOT=""
elif [[ -z $CUDA_ROOT && -x /usr/local/cuda/bin/nvcc ]]; then CUDA_ROOT=/usr/local/cuda
elif [[ -z $CUDA_ROOT ]] && command -v nvcc >/dev/null; then CUDA_ROOT="$(dirname "$(dirname "$(command -v nvcc)")")"; fi
if [[ -z $CUDA_ROOT ]]; then
  CUDA_ROOT="$SITE/nvidia/cu13"
  toolkit_stamp="$VENV/.trellis-cuda-toolkit-13.0"
  if [[ ! -f $toolkit_stamp ]]; then
    log "no CUDA toolkit found: installing its wheels into $VENV"
    "$VENV/bin/pip" install -q --no-deps nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 \
      nvidia-cuda-cccl==13.0.85 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
    # The toolkit's layout that nvcc.profile and FindCUDA expect, as links into the wheels' tree.
    [[ -e $CUDA_ROOT/lib/libcudart.so ]] || ln -s libcudart.so.13 "$CUDA_ROOT/lib/libcudart.so"
    [[ -e $CUDA_ROOT/lib64 ]] || ln -s lib "$CUDA_ROOT/lib64"
    mkdir -p "$CUDA_ROOT/targets/x86_64-linux"
    for d in include lib; do
      [[ -e $CUDA_ROOT/targets/x86_64-linux/$d ]] || ln -s "../../$d" "$CUDA_ROOT/targets/x86_64-linux/$d"
    done
    touch "$toolkit_stamp"
  fi
fi
log "CUDA toolkit: $CUDA_ROOT; torch: $SITE/torch"

# ccache as in cluster/build.sh.
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1

# torch cannot be imported without its CUDA dependencies, so its CMake prefix is given by path.
# TORCH_CUDA_ARCH_LIST is what torch's CMake reads (it ignores CMAKE_CUDA_ARCHITECTURES, with a
# warning); nothing here is compiled by nvcc, so the architecture only matters for consistency.
mkdir -p "$BUILD"
if ! cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_PREFIX_PATH="$SITE/torch/share/cmake" -DTRELLIS_BUILD_TESTS=OFF \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0 \
    -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCMAKE_CUDA_COMPILER="$CUDA_ROOT/bin/nvcc" \
    -DNCCL_ROOT="$SITE/nvidia/nccl" >"$BUILD/configure.log" 2>&1; then
  cat "$BUILD/configure.log" >&2
  log "FAILED: CMake configure (log: $BUILD/configure.log)"
  exit 1
fi
grep -E '^-- (trellis_nccl|PyTorch: CUDA detected)' "$BUILD/configure.log" >&2 || true
if ! grep -q '^TRELLIS_HAVE_NCCL:INTERNAL=ON$' "$BUILD/CMakeCache.txt"; then
  log "FAILED: trellis_nccl is not configured (see the trellis_nccl line above; log: $BUILD/configure.log)"
  exit 1
fi
# Libraries and objects only: executables would link against CUDA runtime libraries not installed here.
# The worker library and trellis-worker's main (its --device cuda path) compile too; nothing links
# against the CUDA runtime, which is not installed here.
cmake --build "$BUILD" -j "${TRELLIS_BUILD_JOBS:-2}" --target trellis_trainer trellis_nccl trellis_gpu_bench_objects \
  trellis_worker worker/CMakeFiles/trellis-worker.dir/main.cpp.o
log "ok: trellis_trainer, trellis_nccl, trellis_worker (with trellis-worker's main) and the GPU bench compile against CUDA torch $TORCH_VERSION"
