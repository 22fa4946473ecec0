#!/usr/bin/env bash
# Installs what a fresh machine needs beyond the Rust toolchain. Safe to run again.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install a stable Rust toolchain (rustup) first" >&2
  exit 1
fi
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    rustup component add "$c"
  fi
done

# RocksDB (librocksdb-sys) generates its bindings with libclang and compiles C++ with g++.
if command -v apt-get >/dev/null 2>&1 && ! ldconfig -p 2>/dev/null | grep -qE 'libclang(-[0-9.]+)?\.so'; then
  (apt-get update -qq && apt-get install -y -qq libclang-dev) \
    || { echo "error: could not install libclang-dev, needed to build RocksDB" >&2; exit 1; }
fi

# g++ builds the CPU emulation of the CUDA driver (ci/cuda-emu.sh).
if ! command -v g++ >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq g++) \
      || echo "warning: could not install g++; the emulated CUDA tests will skip" >&2
  fi
fi

# PostgreSQL: the aggregator's job-database tests start a throwaway cluster (initdb, pg_ctl) on
# loopback. Debian keeps the binaries in /usr/lib/postgresql/*/bin, off PATH.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
  && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq postgresql) \
    || echo "warning: could not install postgresql; the PostgreSQL job-database tests will skip" >&2
fi

# Node.js and npm run solc-js (npm package `solc`), which compiles contracts/*.sol.
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq nodejs npm) \
    || echo "warning: could not install nodejs/npm; the contract artifact check will skip" >&2
fi

# anvil (Foundry's development L1, npm @foundry-rs/anvil-linux-amd64): the L1 tests deploy the
# rollup contracts on it (zknode_l1::testing finds it here). Installed the way
# benches/rpc_read.sh installs it.
anvil_dir="${ZKNODE_CACHE:-$HOME/.cache/zknode}/anvil"
if [ ! -x "$anvil_dir/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$anvil_dir"
    npm install --silent --prefix "$anvil_dir" @foundry-rs/anvil-linux-amd64 >/dev/null \
      || { echo "error: could not install anvil from npm; the L1 tests need it" >&2; exit 1; }
  else
    echo "error: npm is needed to install anvil, which the L1 tests need" >&2
    exit 1
  fi
fi

# NVRTC (from PyPI) lets the tests compile the CUDA sources on machines without a GPU or a CUDA
# toolkit. Optional: without it that one test skips and says so.
cache="${ZKNODE_CACHE:-$HOME/.cache/zknode}"
if [ ! -e "$cache/nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12" ] && command -v python3 >/dev/null 2>&1; then
  mkdir -p "$cache/nvrtc"
  python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$cache/nvrtc" \
    'nvidia-cuda-nvrtc-cu12==12.9.*' \
    || echo "warning: could not install NVRTC from PyPI; the CUDA compile check will skip" >&2
fi
