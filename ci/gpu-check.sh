#!/usr/bin/env bash
# The GPU check, in two parts, so that it can run on a GPU host that has no Rust toolchain.
#
#   bash ci/gpu-check.sh build [DIR]   here: builds the release test binaries of the CUDA backend
#                                      and of the batch proof, and `zkprover`, into DIR
#                                      (default target/gpu-check), stripped, with run.sh
#   bash DIR/run.sh [REPORT]           on the GPU host, from anywhere: the CUDA kernels against
#                                      the CPU bit for bit (kernels/tests/cuda.rs), a batch proof
#                                      whose trace commitment runs on the GPU equal byte for byte
#                                      to the CPU's, `zkprover bench --device cuda` (kernels and
#                                      proving); every line goes to REPORT (default
#                                      DIR/gpu-report.txt). Well under 8 minutes on an H100.
#   bash ci/gpu-check.sh [REPORT]      both, on a machine that has the toolchain and the GPU.
#
# Without a usable GPU, run.sh says so and exits 0; with one, any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

build() {
  local dir="$1"
  local target="${CARGO_TARGET_DIR:-target}"
  mkdir -p "$dir"
  echo "== building the release test binaries and zkprover into $dir"
  local list
  list="$(mktemp)"
  cargo test --release --locked --workspace --no-run --message-format=json \
    --test cuda --test batch_witness >"$list"
  cargo build --release --locked -p zknode-prover --bin zkprover
  python3 - "$list" "$dir" <<'EOF'
import json, shutil, sys
found = {}
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        found[m["target"]["name"]] = m["executable"]
for name in ("cuda", "batch_witness"):
    if name not in found:
        sys.exit(f"gpu-check: the test binary {name} was not built")
    shutil.copy(found[name], f"{sys.argv[2]}/test-{name}")
EOF
  rm -f "$list"
  cp "$target/release/zkprover" "$dir/zkprover"
  strip "$dir"/test-* "$dir/zkprover" 2>/dev/null || true
  cp ci/gpu-run.sh "$dir/run.sh"
  chmod +x "$dir/run.sh" "$dir"/test-* "$dir/zkprover"
  du -sh "$dir"
  echo "carry $dir to the GPU host and run: bash $dir/run.sh"
}

case "${1:-}" in
  build)
    build "${2:-${CARGO_TARGET_DIR:-target}/gpu-check}"
    ;;
  *)
    dir="${CARGO_TARGET_DIR:-target}/gpu-check"
    build "$dir"
    bash "$dir/run.sh" "${1:-$dir/gpu-report.txt}"
    ;;
esac
