#!/usr/bin/env bash
# JSON-RPC reads side by side: a fresh zknode (release build, SQLite, a new temporary data
# directory, the embedded development genesis) and a fresh anvil (npm
# @foundry-rs/anvil-linux-amd64, installed under $ANVIL_DIR when missing, chain id 1001, logs
# off), each on a free loopback port. `rpc_read fixture` builds the same chain on both (FUNDED
# plain transfers, the ERC-20 of contracts/Token.sol, TRANSFERS token transfers: one
# transaction per block, and the same empty blocks), then `rpc_read bench` measures eth_blockNumber, eth_getBalance,
# eth_call (balanceOf) and eth_getLogs (the last LOGS_RANGE blocks) against both in turn with
# the same settings and prints a side-by-side table. See benches/src/bin/rpc_read.rs.
#
#   bash benches/rpc_read.sh
#   CONNECTIONS=16 DURATION=10 ROUNDS=2 bash benches/rpc_read.sh
#   ZKNODE_SETS="rpc.max_logs=20000" bash benches/rpc_read.sh   # extra --set for zknode
#   BUILD=0 bash benches/rpc_read.sh    # with the release binaries already built
#   PERF_OUT=/tmp/zknode.perf bash benches/rpc_read.sh   # also `perf record` zknode meanwhile
#   PERF_ARGS="-F 299 --call-graph dwarf" PERF_OUT=... METHODS=eth_call ...  # other perf options
#
# Both servers, the load generator and the fixture builder share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-16}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-1}
FUNDED=${FUNDED:-1000}
TRANSFERS=${TRANSFERS:-10000}
LOGS_RANGE=${LOGS_RANGE:-10000}
METHODS=${METHODS:-eth_blockNumber,eth_getBalance,eth_call,eth_getLogs}
ZKNODE_SETS=${ZKNODE_SETS:-}
ANVIL_DIR=${ANVIL_DIR:-${ZKNODE_CACHE:-$HOME/.cache/zknode}/anvil}

anvil=$ANVIL_DIR/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if [ ! -x "$anvil" ]; then
  mkdir -p "$ANVIL_DIR"
  npm install --silent --prefix "$ANVIL_DIR" @foundry-rs/anvil-linux-amd64 > /dev/null
fi

if [ "${BUILD:-1}" != 0 ]; then # BUILD=0: the release binaries already built
  cargo build --release --locked -p zknode-node --bin zknode
  cargo build --release --locked -p zknode-benches --bin rpc_read
fi
bin=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release

work=$(mktemp -d)
zk=
an=
# Links to the binaries, which stay whole even when a build elsewhere replaces or removes them.
for b in zknode rpc_read; do
  ln "$bin/$b" "$work/$b" 2> /dev/null || cp "$bin/$b" "$work/$b"
done
bin=$work
cleanup() {
  for p in $zk $an; do
    kill "$p" 2> /dev/null || true
    wait "$p" 2> /dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); zknode commit $(git rev-parse --short HEAD)\
$(git diff --quiet HEAD -- node executor state || echo ' (with uncommitted changes in node/executor/state)')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), \
$(free -g | awk '/^Mem:/ {print $2}') GiB; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "anvil: $("$anvil" --version | head -1)"

zk_port=$(free_port)
# One block per transaction while the fixture is built (blocks close 1 ms after opening, and
# an idle chain makes no empty blocks); no per-IP rate limit (every request comes from
# 127.0.0.1) and no WebSocket listener (its default port may be taken).
args=(--set sequencer.block_time_ms=1 --set sequencer.empty_block_interval_ms=0
  --set rpc.requests_per_ip_per_second=0 --set rpc.ws_addr=)
if [ -n "$ZKNODE_SETS" ]; then
  IFS=, read -ra sets <<< "$ZKNODE_SETS"
  for s in "${sets[@]}"; do args+=(--set "$s"); done
fi
echo "zknode: zknode run --rpc-addr 127.0.0.1:$zk_port --metrics-addr '' ${args[*]}"
"$bin/zknode" run --data-dir "$work/zknode-data" --rpc-addr "127.0.0.1:$zk_port" \
  --metrics-addr "" "${args[@]}" > "$work/zknode.out" 2> "$work/zknode.log" &
zk=$!

an_port=$(free_port)
echo "anvil: anvil --host 127.0.0.1 --port $an_port --chain-id 1001 --quiet --max-persisted-states 0"
"$anvil" --host 127.0.0.1 --port "$an_port" --chain-id 1001 --quiet --max-persisted-states 0 \
  > "$work/anvil.log" 2>&1 &
an=$!

for _ in $(seq 600); do
  grep -q "JSON-RPC on" "$work/zknode.out" && break
  kill -0 "$zk" || { cat "$work/zknode.log"; exit 1; }
  sleep 0.1
done
grep -q "JSON-RPC on" "$work/zknode.out" || { echo "zknode did not start"; exit 1; }
for _ in $(seq 600); do
  (exec 3<> "/dev/tcp/127.0.0.1/$an_port") 2> /dev/null && break
  kill -0 "$an" || { cat "$work/anvil.log"; exit 1; }
  sleep 0.1
done

# The same chain on both: zknode's first, then anvil's with the same block layout (the empty
# blocks zknode's sequencer makes, at a batch's end, are mined on anvil at the same heights).
"$bin/rpc_read" fixture --url "http://127.0.0.1:$zk_port" --out "$work/zknode.json" \
  --funded "$FUNDED" --transfers "$TRANSFERS"
"$bin/rpc_read" fixture --url "http://127.0.0.1:$an_port" --out "$work/anvil.json" \
  --funded "$FUNDED" --transfers "$TRANSFERS" --mirror "$work/zknode.json"
du -sh "$work/zknode-data" | sed 's/^/zknode data directory: /'
echo "load average before the benchmark: $(cut -d' ' -f1-3 /proc/loadavg)"

perf_pid=
if [ -n "${PERF_OUT:-}" ]; then
  # shellcheck disable=SC2086 # PERF_ARGS is a list of options
  perf record ${PERF_ARGS:--F 499 -g} -p "$zk" -o "$PERF_OUT" 2> "$work/perf.log" &
  perf_pid=$!
fi
status=0
"$bin/rpc_read" bench --target "zknode=$work/zknode.json" --target "anvil=$work/anvil.json" \
  --pid "zknode=$zk" --pid "anvil=$an" --methods "$METHODS" --connections "$CONNECTIONS" \
  --duration-s "$DURATION" --warmup-s "$WARMUP" --rounds "$ROUNDS" --threads "$THREADS" \
  --logs-range "$LOGS_RANGE" || status=$?
echo "load average after the benchmark: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid" && wait "$perf_pid" || true
  echo "perf profile of zknode: $PERF_OUT (perf report -i $PERF_OUT)"
fi
exit "$status"
