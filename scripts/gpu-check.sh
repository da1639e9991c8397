#!/usr/bin/env bash
# Runs ON the GPU machine, from inside the folder scripts/cuda-build.sh stages (.gpu/): the
# stripped `aum` binary and parity test binaries (gzipped) and the fixtures (fixtures/scan,
# fixtures/aum, fixtures/ast). No Rust there; the CUDA runtime libraries come from the PyTorch
# installation's nvidia wheels. Correctness is the tests' job; this script adds what a test
# cannot do, timing:
#   1. the `::cuda` case of every backend-generic parity test (scan outputs and gradients
#      through autograd, AuM tokens/CLS features/logits, AST logits, against the fixtures),
#   2. `aum bench scan --cuda`: a cross-check against the CPU backend (f16/bf16 inputs,
#      reverse, groups, h0) and the scan timings with the achieved memory bandwidth,
#   3. `aum bench model --cuda`: AuM-Base at 1024 and 8192 frames, batch 1 and 16, f32 and bf16.
# Every step is time-bounded; the whole script stops within $GPU_CHECK_SECONDS (default 450).
set -uo pipefail
cd "$(dirname "$0")"
deadline=$((SECONDS + ${GPU_CHECK_SECONDS:-450}))
mkdir -p out
failures=0
export RUST_BACKTRACE=0
[[ -x aum ]] || { gzip -dc aum.gz >aum && chmod +x aum; } || { echo "FAIL: cannot unpack aum.gz"; exit 1; }

# Runs "$@" with at most $1 seconds, less if the overall deadline is nearer.
step() {
  local limit=$1; shift
  local left=$((deadline - SECONDS))
  ((left < limit)) && limit=$left
  if ((limit <= 5)); then echo "SKIP (out of time): $*"; return 124; fi
  timeout --kill-after=5 "$limit" "$@"
}

echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv,noheader || true
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
case $gpu in
  *H200*) peak=4800 ;;
  *H100*PCIe*) peak=2000 ;;
  *H100*) peak=3350 ;;
  *) peak= ;;
esac
echo "peak memory bandwidth used for the table: ${peak:-unknown} GB/s ($gpu)"

echo "== CUDA libraries"
libdirs=$(timeout 60 python3 - <<'PY' 2>/dev/null
import glob, os, site, sys
roots = set(site.getsitepackages() + [site.getusersitepackages()])
try:
    import torch
    roots.add(os.path.dirname(os.path.dirname(torch.__file__)))
except Exception:
    pass
dirs = sorted({d for r in roots for d in glob.glob(os.path.join(r, "nvidia", "*", "lib"))})
print(":".join(dirs))
PY
)
if [[ -z $libdirs ]]; then
  libdirs=$(timeout 60 find / -xdev -type d -path '*site-packages/nvidia/*/lib' 2>/dev/null | paste -sd:)
fi
export LD_LIBRARY_PATH=${libdirs}${LD_LIBRARY_PATH:+${libdirs:+:}$LD_LIBRARY_PATH}
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if ldd ./aum | grep -q "not found"; then
  echo "FAIL: missing libraries:"; ldd ./aum | grep "not found"; exit 1
fi
ldd ./aum | grep -E "cuda|cublas|curand|nvrtc" || true

echo "== parity tests, CUDA cases (the workspace's backend-generic tests)"
export AUM_FIXTURES=$PWD/fixtures
for gz in tests/*.gz; do
  [[ -e $gz ]] || { echo "FAIL: no test binaries staged"; failures=$((failures + 1)); break; }
  bin=${gz%.gz}
  gzip -dc "$gz" >"$bin" && chmod +x "$bin"
  if step 120 "$bin" cuda --test-threads 1; then
    echo "PASS $(basename "$bin")"
  else
    echo "FAIL $(basename "$bin")"; failures=$((failures + 1))
  fi
done

echo "== scan benchmark (aum bench scan --cuda)"
peak_arg=${peak:+--peak-gbs $peak}
step 130 ./aum bench scan --cuda --d-inner 768,1536 --len 512,1024,2048,4096,8192,16384 \
  --batch 1,8 --iters 5 $peak_arg || { echo "FAIL bench scan (rc $?)"; failures=$((failures + 1)); }
step 40 ./aum bench scan --cuda --d-inner 1536 --len 4096,16384 --batch 1,8 --dtype bf16 \
  --iters 5 $peak_arg || echo "bf16 scan bench did not finish (rc $?)"

echo "== model benchmark (aum bench model --cuda)"
step 150 ./aum bench model --cuda --size base --frames 1024,8192 --batch 1,16 --iters 3 \
  --precision f32,bf16 || echo "model bench did not finish (rc $?)"

# Kernel-level times, where a profiler is installed (the bench times above include candle's
# allocations and launches).
if command -v nsys >/dev/null; then
  echo "== nsys: per-kernel GPU time, batch 8, d_inner 1536, L 16384"
  step 60 nsys profile -o out/scan-prof --force-overwrite true --stats=true \
    ./aum bench scan --cuda --d-inner 1536 --len 16384 --batch 8 --iters 2 2>&1 \
    | grep -A 12 -E "cuda_gpu_kern_sum|CUDA Kernel Statistics" || echo "nsys did not finish"
else
  echo "== nsys not installed: no per-kernel times"
fi

echo "== done in ${SECONDS}s: $failures failure(s)"
((failures == 0))
