#!/usr/bin/env bash
# Runs the GPU-vs-CPU tests of the CUDA backend on machines without a GPU, against a fake
# libcuda.so.1 that executes the exact CUDA programs on the CPU (kernels/cuda-emu/: threads of a
# block are fibers switched at __syncthreads in random order, blocks run in random order). It
# checks the kernels' logic and the host code's use of the driver; it cannot show races between
# warps or speed — those need a real GPU. Needs g++ and NVRTC (ci/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/cuda-emu"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
if [ -z "${ZKNODE_NVRTC:-}" ]; then
  echo "cuda-emu: skipped, NVRTC not found (set ZKNODE_NVRTC or run ci/install-deps.sh)"
  exit 0
fi
if ! command -v g++ >/dev/null 2>&1; then
  echo "cuda-emu: skipped, g++ not found"
  exit 0
fi
# Every cargo command here selects what `cargo test --workspace --profile dev` (ci/test.sh)
# built, so that its test binaries are reused instead of rebuilt: with `-p`, or with `--test` on
# some targets, cargo resolves other features and rebuilds part of the tree, and under another
# profile name it rebuilds all of it. (`--test cuda` happens to resolve the same; the batch-proof
# comparison is selected by name across the workspace's binaries.)
# The complete programs (generated prelude included), as the backend hands them to NVRTC.
ZKNODE_CUDA_SOURCES_OUT="$out" cargo test -q --locked --profile dev --workspace --test cuda -- \
  --ignored --exact write_cuda_sources >/dev/null
g++ -std=c++17 -O2 -fPIC -shared -Wno-unknown-pragmas -I "$out" -I kernels/cuda-emu \
  -o "$out/libcuda.so.1" kernels/cuda-emu/fakecuda.cpp
echo "== CUDA backend tests on the CPU emulation of the driver (sizes up to 2^${ZKNODE_CUDA_TEST_MAX_LOG:-16})"
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ZKNODE_CUDA_TEST_MAX_LOG="${ZKNODE_CUDA_TEST_MAX_LOG:-16}" \
  ZKNODE_REQUIRE_CUDA=1 cargo test --locked --profile dev --workspace --test cuda
echo "== a batch proof with the CUDA backend's trace commitment, on the emulation, equals the CPU's byte for byte"
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ZKNODE_REQUIRE_CUDA=1 \
  cargo test --locked --profile dev --workspace backend_commitment_gives_identical_proof_bytes
