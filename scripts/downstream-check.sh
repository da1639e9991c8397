#!/usr/bin/env bash
# Builds the README's library snippet (the first rust block under "Use it from Rust", hidden
# doctest lines included, its two paths taken from the command line) in a fresh crate outside
# the workspace whose only dependency is aum-model (default features), and checks on an
# official-layout AuM `.pth`, an HF-layout AST checkpoint and the bundled model that its top
# class is the one `aum classify` prints.
# Uses $CARGO_TARGET_DIR (shared with the workspace, so compiled dependencies are reused).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
crate=$(mktemp -d)
trap 'rm -rf "$crate"' EXIT
mkdir -p "$crate/src"
python3 - "$root/README.md" >"$crate/src/main.rs" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
section = text[text.index("## Use it from Rust"):]
block = re.search(r"```rust\n(.*?)```", section, re.S).group(1)
for line in block.splitlines():
    line = line[2:] if line.startswith("# ") else ("" if line == "#" else line)
    line = re.sub(r'let checkpoint_path = ".*";',
                  'let checkpoint_path = std::env::args().nth(1).expect("CHECKPOINT");', line)
    line = re.sub(r'let audio_path = ".*";',
                  'let audio_path = std::env::args().nth(2).expect("AUDIO");', line)
    print(line)
PY
# The workspace's lock file pins the same dependency versions, so nothing is re-resolved.
cp "$root/Cargo.lock" "$crate/Cargo.lock"
cat > "$crate/Cargo.toml" <<TOML
[package]
name = "downstream"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
aum-model = { path = "$root/crates/aum-model" }

[profile.dev]
opt-level = 1

[profile.dev.package."*"]
opt-level = 3
debug = 0
TOML
cargo build --quiet --manifest-path "$crate/Cargo.toml" --target-dir "$target"
cargo build --quiet --manifest-path "$root/Cargo.toml" -p aum-cli
snippet=$target/debug/downstream
aum=$target/debug/aum
audio=$root/assets/seven.wav
status=0
for ckpt in \
  "$root/crates/aum-model/tests/fixtures/aum/aum-v1-d64-l2-t128.pth" \
  "$root/crates/aum-ast/tests/fixtures/ast/ast-h64-l2-t128-s10.hf.safetensors" \
  "$root/crates/aum-cli/models/aum-fsdd.safetensors"; do
  ours=$("$snippet" "$ckpt" "$audio" | head -n1 | cut -d' ' -f2-)
  cli=$("$aum" classify --json --checkpoint "$ckpt" "$audio" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["top"][0]["label"])')
  if [[ "$ours" == "$cli" ]]; then
    echo "ok   $(basename "$ckpt"): top class '$ours' from both"
  else
    echo "FAIL $(basename "$ckpt"): snippet '$ours', aum classify '$cli'"
    status=1
  fi
done
exit $status
