#!/usr/bin/env bash
# The whole check a change must pass: formatting, lints, then every test in the workspace.
# This is the test command the README gives; .ci/run installs what a fresh machine lacks and
# calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Let the CUDA source compile check find NVRTC if ci/install-deps.sh put it in the cache.
nvrtc_dir="${ZKNODE_CACHE:-$HOME/.cache/zknode}/nvrtc/nvidia/cuda_nvrtc/lib"
if [ -z "${ZKNODE_NVRTC:-}" ] && [ -e "$nvrtc_dir/libnvrtc.so.12" ]; then
  export ZKNODE_NVRTC="$nvrtc_dir/libnvrtc.so.12"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== dependencies: none unused, and no proving stack in the node"
bash ci/deps-check.sh
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
# `--profile dev`: the test profile is a copy of dev under another name, and cargo keys every
# artifact by the profile's name, so with it clippy's build scripts (RocksDB's C++ among them)
# and proc macros are reused here instead of compiled a second time.
cargo test --workspace --locked --profile dev "$@"
echo "== contract artifacts match their sources"
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  bash contracts/build.sh --check
else
  echo "skipping: node and npm are needed to compile the contracts with solc-js"
fi
echo "== CUDA kernels on the emulated driver"
bash ci/cuda-emu.sh
