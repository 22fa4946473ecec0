#!/usr/bin/env bash
# A permissionless node syncing from anvil (issue 15): batches of transfers sequenced on a fresh
# anvil, then read back from L1 (the fetch) and re-executed and stored (the execution), each
# timed apart. Needs anvil (ci/install-deps.sh installs it). Arguments go to the binary; see
# benches/src/bin/l1_sync.rs.
#
#   bash benches/l1_sync.sh
#   bash benches/l1_sync.sh --batches 100 --txs-per-batch 500
#   BUILD=0 bash benches/l1_sync.sh    # with the release binary already built
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${BUILD:-1}" != 0 ]; then
  cargo build --release --locked -p zknode-benches --bin l1_sync
fi
bin=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/release
echo "zknode commit $(git rev-parse --short HEAD); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
exec "$bin/l1_sync" "$@"
