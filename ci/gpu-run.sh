#!/usr/bin/env bash
# The part of the GPU check that runs on the GPU host (copied as run.sh by
# `ci/gpu-check.sh build`; see there). Needs only the NVIDIA driver: the CUDA sources are inside
# the binaries and compiled by NVRTC, which is found beside the driver or through ZKNODE_NVRTC.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
report="${1:-$here/gpu-report.txt}"
: >"$report"
say() { echo "$*" | tee -a "$report"; }
failed=0
step() {
  local what="$1"
  shift
  say "== $what"
  say "\$ $*"
  local t0=$SECONDS
  if "$@" 2>&1 | tee -a "$report"; then
    say "-- ok ($((SECONDS - t0)) s)"
  else
    say "-- FAILED ($((SECONDS - t0)) s)"
    failed=1
  fi
}

say "zkNode GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(hostname)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$report"
fi
if ! "$here/zkprover" device --device cuda >>"$report" 2>&1; then
  say "no usable GPU here ($(tail -n 1 "$report")); nothing to check"
  exit 0
fi
export ZKNODE_REQUIRE_CUDA=1
step "CUDA kernels against the CPU, bit for bit" "$here/test-cuda" --test-threads=1
step "batch proof with the GPU trace commitment equals the CPU's, byte for byte" \
  "$here/test-batch_witness" --exact backend_commitment_gives_identical_proof_bytes --nocapture
step "kernel benchmark" "$here/zkprover" bench --device cuda
step "proving benchmark" "$here/zkprover" bench --device cuda --prove --ops 64,256,1024,4096
say "report: $report"
if [ "$failed" -ne 0 ]; then
  say "the GPU check FAILED"
  exit 1
fi
say "the GPU check passed"
