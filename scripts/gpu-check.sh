#!/usr/bin/env bash
# Runs ON the GPU machine, from inside the folder scripts/cuda-build.sh stages (.gpu/): the
# stripped `aum` binary (gzipped) and the fixtures (fixtures/scan, fixtures/aum). No Rust there; the CUDA runtime libraries
# come from the PyTorch installation's nvidia wheels.
#   1. `aum scan --backend cuda` on every scan fixture (the binary checks out, last_state and
#      every gradient against the fixture with |diff| <= 1e-4·|want| + 1e-5),
#   2. `aum logits --cuda` on every AuM fixture, logits compared with the fixture's,
#   3. `aum bench scan --cuda`: a cross-check against the CPU backend (f16/bf16 inputs, reverse,
#      groups, h0) and the scan timings with the achieved memory bandwidth,
#   4. `aum bench model --cuda`: AuM-Base at 1024 and 8192 frames, batch 1 and 16.
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

echo "== scan fixtures (aum scan --backend cuda)"
for f in fixtures/scan/*.safetensors; do
  name=$(basename "$f" .safetensors)
  if step 60 ./aum scan --input "$f" --output "out/scan-$name.safetensors" --backend cuda; then
    echo "PASS scan $name"
  else
    echo "FAIL scan $name"; failures=$((failures + 1))
  fi
done

echo "== AuM fixtures (aum logits --cuda)"
for io in fixtures/aum/*.io.safetensors; do
  name=$(basename "$io" .io.safetensors)
  weights=fixtures/aum/$name.weights.safetensors
  if ! step 60 ./aum logits --checkpoint "$weights" --input "$io" --output "out/logits-$name.safetensors" --cuda; then
    echo "FAIL logits $name (run)"; failures=$((failures + 1)); continue
  fi
  if step 30 python3 - "$io" "out/logits-$name.safetensors" <<'PY'
import array, json, struct, sys
def load(path, name):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    meta = json.loads(raw[8:8 + n])[name]
    assert meta["dtype"] == "F32", meta["dtype"]
    start, end = meta["data_offsets"]
    values = array.array("f")
    values.frombytes(raw[8 + n + start:8 + n + end])
    return values
want, got = load(sys.argv[1], "logits"), load(sys.argv[2], "logits")
assert len(want) == len(got), (len(want), len(got))
diffs = [abs(g - w) for g, w in zip(got, want)]
ok = all(d <= 1e-4 * abs(w) + 1e-4 for d, w in zip(diffs, want))
print(f"  logits: {len(got)} values, max abs diff {max(diffs):.3e}, max |want| {max(map(abs, want)):.3e}"
      f" (check |diff| <= 1e-4·|want| + 1e-4)")
sys.exit(0 if ok else 1)
PY
  then echo "PASS logits $name"; else echo "FAIL logits $name"; failures=$((failures + 1)); fi
done

echo "== scan benchmark (aum bench scan --cuda)"
peak_arg=${peak:+--peak-gbs $peak}
step 130 ./aum bench scan --cuda --d-inner 768,1536 --len 512,1024,2048,4096,8192,16384 \
  --batch 1,8 --iters 5 $peak_arg || { echo "FAIL bench scan (rc $?)"; failures=$((failures + 1)); }
step 40 ./aum bench scan --cuda --d-inner 1536 --len 4096,16384 --batch 1,8 --dtype bf16 \
  --iters 5 $peak_arg || echo "bf16 scan bench did not finish (rc $?)"

echo "== model benchmark (aum bench model --cuda)"
step 120 ./aum bench model --cuda --size base --frames 1024,8192 --batch 1,16 --iters 3 \
  || echo "model bench did not finish (rc $?)"

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
