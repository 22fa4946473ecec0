#!/usr/bin/env bash
# Compiles contracts/*.sol with solc-js 0.8.28 (npm package `solc`), EVM version berlin (the
# zkEVM of fork 12 runs Berlin; no PUSH0) into contracts/artifacts/<Name>.json. The files are one
# compiler input, so one may import another (`import {X} from "./X.sol";`).
# `contracts/build.sh --check` fails when a committed artifact differs from its source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${ZKNODE_CACHE:-$HOME/.cache/zknode}/solc"
if [ ! -x "$cache/node_modules/.bin/solcjs" ]; then
  mkdir -p "$cache"
  npm install --silent --prefix "$cache" solc@0.8.28 >/dev/null
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
node - "$here" "$out" "$cache/node_modules/solc" <<'JS'
const [dir, out, solcPath] = process.argv.slice(2);
const fs = require('fs'), path = require('path');
const solc = require(solcPath);
// One standard-JSON input holds every source, so that a file can import another
// (`import {X} from "./X.sol";`); each file's contracts come out under its own name.
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.sol')).sort();
const sources = {};
for (const f of files) sources[f] = { content: fs.readFileSync(path.join(dir, f), 'utf8') };
const input = {
  language: 'Solidity',
  sources,
  settings: {
    evmVersion: 'berlin',
    optimizer: { enabled: true, runs: 200 },
    metadata: { bytecodeHash: 'none' },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
};
const res = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (res.errors || []).filter((e) => e.severity === 'error');
if (errors.length) { console.error(errors.map((e) => e.formattedMessage).join('\n')); process.exit(1); }
for (const f of files) {
  for (const [name, c] of Object.entries(res.contracts[f] || {})) {
    const art = { contractName: name, source: f, compiler: solc.version(), evmVersion: 'berlin',
      abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object };
    fs.writeFileSync(path.join(out, name + '.json'), JSON.stringify(art, null, 2) + '\n');
  }
}
JS
if [ "${1:-}" = "--check" ]; then
  diff -r "$out" "$here/artifacts" && echo "contract artifacts match their sources"
else
  cp "$out"/*.json "$here/artifacts/"
  ls "$here/artifacts"
fi
