#!/usr/bin/env bash
# End-to-end throughput through JSON-RPC: for each setting in RUNS, a fresh `zknode run` on
# loopback (SQLite, a new temporary data directory, the embedded development genesis) and the
# rpc_load generator against it (TXS legacy transfers from SENDERS fresh accounts, see
# benches/src/bin/rpc_load.rs); the node is stopped with SIGTERM after each run.
#
#   bash benches/rpc_load.sh
#   RUNS="default sequencer.block_time_ms=250 sequencer.block_time_ms=250,pool.global_queue=8192" \
#     SENDERS=64 TXS=20000 bash benches/rpc_load.sh
#   RATE=1500 bash benches/rpc_load.sh       # offered at 1,500 tx/s rather than flat out
#
# A run is "default" (the node's defaults) or comma-separated KEY=VALUE overrides for --set.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-"default sequencer.block_time_ms=250"}
SENDERS=${SENDERS:-64}
TXS=${TXS:-20000}
RATE=${RATE:-0}
PORT=${PORT:-8545}

cargo build --release --locked -p zknode-node --bin zknode
cargo build --release --locked -p zknode-benches --bin rpc_load
bin=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
work=$(mktemp -d)
node=
cleanup() {
  if [ -n "$node" ]; then kill "$node" 2>/dev/null || true; wait "$node" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for run in $RUNS; do
  args=()
  if [ "$run" != default ]; then
    IFS=, read -ra sets <<< "$run"
    for s in "${sets[@]}"; do args+=(--set "$s"); done
  fi
  data=$work/data-$RANDOM
  echo "== $run"
  "$bin/zknode" run --data-dir "$data" --rpc-addr "127.0.0.1:$PORT" --metrics-addr "" \
    "${args[@]}" > "$work/out" 2> "$work/node.log" &
  node=$!
  for _ in $(seq 600); do
    grep -q "JSON-RPC on" "$work/out" && break
    kill -0 "$node" || { cat "$work/node.log"; exit 1; }
    sleep 0.1
  done
  "$bin/rpc_load" --url "http://127.0.0.1:$PORT" --senders "$SENDERS" --txs "$TXS" \
    --rate "$RATE"
  kill -TERM "$node"
  wait "$node"
  node=
  du -sh "$data" | sed 's/^/data directory: /'
  rm -rf "$data"
  echo "node: $(grep -c 'block stored' "$work/node.log") blocks, \
$(grep -c 'batch closed' "$work/node.log") batches closed"
done
