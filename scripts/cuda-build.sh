#!/usr/bin/env bash
# Builds the CUDA `aum` binary and the backend-generic parity tests (aum-scan's fixtures,
# aum-model's and aum-ast's parity: each test's `::cuda` case) on a machine without a GPU and
# stages them (gzipped) in .gpu/ (ignored by git) with every scan, AuM and AST fixture and
# gpu-check.sh, ready to copy to a GPU machine and run there with `cd .gpu && bash gpu-check.sh`.
#
# The toolchain (nvcc 13.0 and link-time CUDA libraries from NVIDIA's PyPI wheels) comes from
# ../shared/tools/cuda-toolchain.sh, or from $CUDA_TOOLCHAIN. The build uses its own target
# directory (target-cuda/, override with CARGO_TARGET_DIR) so that it never invalidates the CPU
# build's cache. The first build takes ~10 minutes on 2 cores (candle's own kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

toolchain=${CUDA_TOOLCHAIN:-$root/../shared/tools/cuda-toolchain.sh}
[[ -x $toolchain || -f $toolchain ]] || { echo "cuda-build: no toolchain script at $toolchain" >&2; exit 1; }
eval "$(bash "$toolchain")"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target-cuda}

cargo build --release --features cuda -p aum-cli
# The test binaries, in the same (release) profile so candle is compiled once.
tests=$(cargo test --release --no-run --message-format=json \
  -p aum-scan --features aum-scan/cuda --test fixtures \
  -p aum-model --features aum-model/cuda --test parity \
  -p aum-ast --features aum-ast/cuda --test parity |
  python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["package_id"].split("#")[0].rsplit("/", 1)[-1] + "-" + m["target"]["name"], m["executable"])
')

stage=$root/.gpu
rm -rf "$stage"
mkdir -p "$stage/fixtures/scan" "$stage/fixtures/aum" "$stage/fixtures/ast" "$stage/tests"
# Compressed: the stripped binary (~58 MB) and the fixtures must fit a 64 MiB transfer;
# gpu-check.sh unpacks it.
strip -o "$stage/aum" "$CARGO_TARGET_DIR/release/aum"
gzip -9 "$stage/aum"
cp crates/aum-scan/tests/fixtures/scan/*.safetensors "$stage/fixtures/scan/"
cp crates/aum-model/tests/fixtures/aum/*.{io,weights}.safetensors "$stage/fixtures/aum/"
cp crates/aum-ast/tests/fixtures/ast/*.safetensors "$stage/fixtures/ast/"
while read -r name exe; do
  strip -o "$stage/tests/$name" "$exe"
  gzip -9 "$stage/tests/$name"
done <<<"$tests"
cp scripts/gpu-check.sh "$stage/"
echo "cuda-build: staged in $stage ($(du -sh "$stage" | cut -f1)):"
ls -l "$stage" >&2
