#!/usr/bin/env bash
# Dependency checks that need no extra tools (part of ci/test.sh):
#  1. every dependency a workspace crate lists is named somewhere in its code (a crate listed
#     only to set a feature of another goes in ALLOWED below, with the reason);
#  2. the node (`zknode`) links no proving stack: plonky2, starky or the prover crate.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python3 -c 'import tomllib' 2>/dev/null; then
  echo "deps-check: skipping the unused-dependency check (it needs python3 3.11 or newer)"
else
python3 - <<'EOF'
import pathlib, re, sys, tomllib

root = pathlib.Path(".")
members = tomllib.loads((root / "Cargo.toml").read_text())["workspace"]["members"]
# (crate, dependency): why it is listed although no code names it.
ALLOWED = {
    ("zknode-proto", "tonic-prost"): "the gRPC code that build.rs generates uses its codec",
    ("zknode-executor", "alloy-primitives"): "its `rlp` feature lets alloy-rlp decode revm's U256, Address and Bytes",
}
unused = []
for m in members:
    manifest = tomllib.loads((root / m / "Cargo.toml").read_text())
    files = [p for d in ("src", "tests", "benches", "examples") for p in (root / m / d).rglob("*.rs")]
    if (root / m / "build.rs").exists():
        files.append(root / m / "build.rs")
    text = "\n".join(p.read_text() for p in files)
    for section in ("dependencies", "dev-dependencies", "build-dependencies"):
        for name, spec in manifest.get(section, {}).items():
            crate = (spec.get("package", name) if isinstance(spec, dict) else name).replace("-", "_")
            if (manifest["package"]["name"], name) in ALLOWED:
                continue
            if not re.search(r"\b%s\b" % re.escape(crate), text):
                unused.append(f"{m}/Cargo.toml [{section}] {name}: no code in {m}/ names `{crate}`")
if unused:
    print("unused dependencies:\n  " + "\n  ".join(unused))
    sys.exit(1)
print(f"deps-check: every dependency of the {len(members)} workspace crates is used")
EOF
fi

proving="$(cargo tree --locked -p zknode-node -e normal,build --prefix none --format '{p}' \
  | awk '{print $1}' | grep -xE 'plonky2|plonky2_field|starky|zknode-prover' | sort -u || true)"
if [ -n "$proving" ]; then
  echo "the node links the proving stack: $(echo "$proving" | tr '\n' ' ')" >&2
  cargo tree --locked -p zknode-node -e normal,build -i "$(echo "$proving" | head -n 1)" >&2 || true
  exit 1
fi
echo "deps-check: zknode links no plonky2, starky or prover"
