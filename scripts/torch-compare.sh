#!/usr/bin/env bash
# Our CPU models and GEMMs against what users run instead — PyTorch in f32 and bf16 autocast
# (oneDNN, AMX where the CPU has it) — in one command, alternating, 2 threads, batch 1.
# Needs the throwaway PyTorch virtualenv of ../shared/tools/torch_baseline.py (never a project
# dependency): TORCH_PY (default ~/.cache/torch-venv/bin/python) with torch and transformers.
#   scripts/torch-compare.sh            # GEMMs, then AST/AuM-Base at 512 and 4096 tokens
#   TOKENS=512 scripts/torch-compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
py=${TORCH_PY:-$HOME/.cache/torch-venv/bin/python}
baseline=${TORCH_BASELINE:-../shared/tools/torch_baseline.py}
tokens=${TOKENS:-512 4096}
export THREADS=${THREADS:-2} RAYON_NUM_THREADS=${THREADS:-2}
cargo build --release -q -p aum-cli
aum=${CARGO_TARGET_DIR:-target}/release/aum

echo "== GEMMs: PyTorch (GFLOP/s), then ours"
"$py" "$baseline" gemm
"$aum" bench gemm --threads "$THREADS" \
  --shapes 513x768x3072,513x1536x768,514x768x2304,514x3072x768,4097x768x3072

for t in $tokens; do
  frames=$((2 * t))
  iters=$((t > 1024 ? 2 : 10))
  echo "== $t patch tokens ($frames frames): HF AST-Base in PyTorch, then ours (AuM-Base and AST-Base)"
  "$py" "$baseline" ast --frames "$frames" --stride 16 --iters "$iters"
  "$aum" bench compare --size base --tokens "$t" --precision f32,bf16 --iters "$iters" --json
done
