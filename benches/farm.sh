#!/usr/bin/env bash
# End-to-end prover-farm throughput: a `zkaggregator run` process and K `zkprover serve`
# processes on loopback prove, wrap, aggregate and finalize BATCHES consecutive batches of OPS
# state operations each. The clock starts when the provers are started (the recursion circuits
# are already loaded) and stops when the final proof of every batch is settled; the figure is
# batches per minute over that span.
#
#   bash benches/farm.sh                     # 8 batches of 64 operations, with 1 and then 2 provers
#   BATCHES=16 OPS=256 PROVERS="1 2 4" bash benches/farm.sh
#
# Release binaries; the circuit cache defaults to the target directory's (built on first use,
# about a minute on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
BATCHES=${BATCHES:-8}
OPS=${OPS:-64}
PROVERS=${PROVERS:-"1 2"}
target=${CARGO_TARGET_DIR:-target}
cache=${CIRCUIT_CACHE:-$target/tmp/circuits}

cargo build --release --locked --bin zkprover --bin zkaggregator
bin=$target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ops=$OPS
for ((i = 1; i < BATCHES; i++)); do ops="$ops,$OPS"; done
"$bin/zkprover" witness chain --ops "$ops" --seed 7 --out-dir "$work/batches" >/dev/null

echo "machine: $(nproc) cores, $(uname -m); $BATCHES batches of $OPS operations"
for k in $PROVERS; do
  run="$work/run-$k"
  mkdir -p "$run"
  db="$run/aggregator.db"
  "$bin/zkaggregator" add-batches --db "$db" "$work"/batches/*.json >/dev/null
  port=$(free_port)
  "$bin/zkaggregator" run --db "$db" --listen "127.0.0.1:$port" --circuit-cache "$cache" \
    --settlements "$run/settlements" 2>"$run/aggregator.log" &
  pids+=($!)
  until grep -q "waiting for provers" "$run/aggregator.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$run/aggregator.log"; exit 1; }
    sleep 0.2
  done
  start=$(date +%s.%N)
  for i in $(seq 1 "$k"); do
    "$bin/zkprover" serve --aggregator "http://127.0.0.1:$port" --prover-id "p$i" --device cpu \
      2>"$run/p$i.log" &
    pids+=($!)
  done
  until "$bin/zkaggregator" status --db "$db" 2>/dev/null | grep -q "^last verified batch: $BATCHES\$"; do
    sleep 0.5
  done
  end=$(date +%s.%N)
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  python3 -c "s=$end-$start; print(f'provers: $k  batches: $BATCHES  time: {s:.1f} s  batches/min: {$BATCHES*60/s:.1f}')"
done
