// Selective scan (Mamba-1 S6), forward and backward, for aum-scan's token-major layout.
//
// Layout (row-major, the element type T is f32, f16 or bf16; all arithmetic is f32):
//   seqs   = [u; delta; z]          each (batch, L, d_inner), z only when has_z
//   bc     = [B; C]                 each (batch, L, groups, d_state)
//   params = [A (d_inner, d_state); D (d_inner); delta_bias (d_inner)]   f32
//   h0     = (batch, d_inner, d_state) f32, or null
//   out    = [y (batch, L, d_inner); last_state (batch, d_inner, d_state);
//             chunk_states (batch, d_inner, n_chunks, d_state)]           f32
// chunk_states holds the state entering every chunk, so that the backward does not rerun the
// forward over the whole sequence to find where each chunk starts.
//
// Design (see docs/kernels.md, "CUDA"): a block covers kChannels consecutive channels of one
// sequence; warp w of the block owns channel d0 + w, and its 32 lanes own kItems consecutive
// steps each, so a chunk is 32 * kItems = 256 steps. The block stages each chunk's
// (chunk x channels) tile of u/delta/z and the chunk's B and C rows in shared memory with
// coalesced loads (consecutive threads read consecutive channels of one token), then every warp
// scans its channel over time with shuffles only: per state, each lane composes its steps into
// one affine map h -> P*h + S, a warp-wide scan composes the maps, and the state entering the
// chunk (carried in shared memory) is pushed through. Steps past the end are the identity
// (dt = 0, u = 0). The reverse direction reads tokens L-1-s for scan step s: no copies.
// When few blocks exist (short batch x d_inner), the forward splits the states of a channel
// over blockDim.z warps and adds their partial outputs with shared-memory atomics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

namespace {

constexpr int kItems = 8;                    // steps per lane
constexpr int kChunk = 32 * kItems;          // steps per chunk
constexpr int kRow = kChunk + 32 + 1;        // padded shared row: no bank conflicts
constexpr float kLog2e = 1.4426950408889634f;
constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float to_f32(float x) { return x; }
__device__ __forceinline__ float to_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 x) { return __bfloat162float(x); }

// Position of chunk step i in a padded shared row: lane-major with one spare slot per lane, so
// that the 32 lanes reading their k-th step hit 32 different banks.
__device__ __forceinline__ int pad(int i) { return i + i / kItems; }

__device__ __forceinline__ float softplus(float x) { return x <= 20.f ? log1pf(expf(x)) : x; }
__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

// The step size: delta + bias, through softplus when asked.
__device__ __forceinline__ float step_size(float delta, float bias, int use_softplus) {
    float x = delta + bias;
    return use_softplus ? softplus(x) : x;
}

// Composes affine maps: (P, S) becomes "apply other, then self".
__device__ __forceinline__ void compose(float& p, float& s, float po, float so) {
    s = fmaf(p, so, s);
    p *= po;
}

// Inclusive scan of the lanes' maps from lane 0 upwards: lane j ends with lane j o ... o lane 0.
__device__ __forceinline__ void warp_scan_up(float& p, float& s, int lane) {
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
        float po = __shfl_up_sync(kFull, p, o);
        float so = __shfl_up_sync(kFull, s, o);
        if (lane >= o) compose(p, s, po, so);
    }
}

// Inclusive scan from lane 31 downwards: lane j ends with lane j o ... o lane 31.
__device__ __forceinline__ void warp_scan_down(float& p, float& s, int lane) {
#pragma unroll
    for (int o = 1; o < 32; o *= 2) {
        float po = __shfl_down_sync(kFull, p, o);
        float so = __shfl_down_sync(kFull, s, o);
        if (lane + o < 32) compose(p, s, po, so);
    }
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(kFull, x, o);
    return x;
}

// Moves `total` elements between global and shared memory, `step` threads apart: each thread
// issues up to kBatch independent loads before it uses any, so a phase costs about one memory
// latency instead of one per element (the block waits at a barrier after each phase, so
// nothing else would hide it).
constexpr int kBatch = 8;
template <typename V, typename Load, typename Store>
__device__ __forceinline__ void batched(int total, int first, int step, Load load, Store store) {
    for (int base = first; base < total; base += kBatch * step) {
        V v[kBatch];
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
            int e = base + j * step;
            if (e < total) v[j] = load(e);
        }
#pragma unroll
        for (int j = 0; j < kBatch; ++j) {
            int e = base + j * step;
            if (e < total) store(e, v[j]);
        }
    }
}

// The problem, as the kernels see it.
struct Dims {
    int batch, len, d_inner, d_state, groups, has_z, use_softplus, reverse;
    __device__ int64_t n_seq() const { return (int64_t)batch * len * d_inner; }
    __device__ int64_t n_bc() const { return (int64_t)batch * len * groups * d_state; }
    __device__ int n_chunks() const { return (len + kChunk - 1) / kChunk; }
    __device__ int token(int step) const { return reverse ? len - 1 - step : step; }
};

// Stages the chunk's B and C rows of group g (shared by every channel of the block) as
// [n][pad(step)] rows; steps past the end read as zero.
template <typename T>
__device__ void load_bc(const T* bc, const Dims& p, int b, int g, int s0, float* sb, float* sc) {
    const int n_state = p.d_state, tid = threadIdx.x + 32 * (threadIdx.y + blockDim.y * threadIdx.z);
    const int nthreads = 32 * blockDim.y * blockDim.z;
    const int64_t n_bc = p.n_bc();
    const bool pow2 = (n_state & (n_state - 1)) == 0;  // d_state 16: shifts, not divisions
    const int shift = __ffs(n_state) - 1;
    batched<float2>(
        kChunk * n_state, tid, nthreads,
        [&](int e) {
            int i = pow2 ? e >> shift : e / n_state, n = e - i * n_state, s = s0 + i;
            float2 v = make_float2(0.f, 0.f);
            if (s < p.len) {
                int64_t off = (((int64_t)b * p.len + p.token(s)) * p.groups + g) * n_state + n;
                v = make_float2(to_f32(bc[off]), to_f32(bc[n_bc + off]));
            }
            return v;
        },
        [&](int e, float2 v) {
            int i = pow2 ? e >> shift : e / n_state, n = e - i * n_state;
            sb[n * kRow + pad(i)] = v.x;
            sc[n * kRow + pad(i)] = v.y;
        });
}

template <typename T>
__device__ void scan_fwd(const T* __restrict__ seqs, const T* __restrict__ bc,
                         const float* __restrict__ params, const float* __restrict__ h0,
                         float* __restrict__ out, Dims p) {
    extern __shared__ float smem[];
    const int n_ch = blockDim.y, n_split = blockDim.z, n_state = p.d_state;
    const int ch_shift = __ffs(n_ch) - 1;  // n_ch is a power of two
    const int lane = threadIdx.x, ch = threadIdx.y, split = threadIdx.z;
    const int tid = lane + 32 * (ch + n_ch * split), nthreads = 32 * n_ch * n_split;
    const int b = blockIdx.y, d0 = blockIdx.x * n_ch, d = d0 + ch;
    const int g = d0 / (p.d_inner / p.groups);
    float* su = smem;                          // [ch][pad(i)] u
    float* sdt = su + n_ch * kRow;             // [ch][pad(i)] dt
    float* sy = sdt + n_ch * kRow;             // [ch][pad(i)] y, accumulated over splits
    float* sb = sy + n_ch * kRow;              // [n][pad(i)] B
    float* sc = sb + n_state * kRow;           // [n][pad(i)] C
    float* carry = sc + n_state * kRow;        // [ch][n] state entering the chunk

    const float* a_mat = params;
    const float* d_vec = params + p.d_inner * n_state;
    const float* bias = d_vec + p.d_inner;
    const int64_t n_seq = p.n_seq();
    const int64_t n_state_all = (int64_t)p.batch * p.d_inner * n_state;
    float* last_state = out + n_seq;
    float* chunk_states = last_state + n_state_all;
    const int n_chunks = p.n_chunks();

    for (int e = tid; e < n_ch * n_state; e += nthreads) {
        int64_t at = ((int64_t)b * p.d_inner + d0) * n_state + e;
        carry[e] = h0 ? h0[at] : 0.f;
    }
    const int per_split = n_state / n_split, n_lo = split * per_split;

    for (int c = 0; c < n_chunks; ++c) {
        const int s0 = c * kChunk;
        __syncthreads();  // the previous chunk's tiles and carries are consumed
        batched<float2>(
            kChunk * n_ch, tid, nthreads,
            [&](int e) {  // (u, raw delta)
                int i = e >> ch_shift, s = s0 + i;
                if (s >= p.len) return make_float2(0.f, 0.f);
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + d0 + (e & (n_ch - 1));
                return make_float2(to_f32(seqs[x]), to_f32(seqs[n_seq + x]));
            },
            [&](int e, float2 v) {
                int i = e >> ch_shift, k = e & (n_ch - 1), dk = d0 + k;
                bool inside = s0 + i < p.len;  // past the end: dt = 0, the identity step
                su[k * kRow + pad(i)] = v.x;
                sdt[k * kRow + pad(i)] = inside ? step_size(v.y, bias[dk], p.use_softplus) : 0.f;
                sy[k * kRow + pad(i)] = d_vec[dk] * v.x;
            });
        load_bc(bc, p, b, g, s0, sb, sc);
        __syncthreads();

        float dt[kItems], dtu[kItems], y[kItems];
#pragma unroll
        for (int k = 0; k < kItems; ++k) {
            int at = ch * kRow + pad(lane * kItems + k);
            dt[k] = sdt[at];
            dtu[k] = dt[k] * su[at];
            y[k] = 0.f;
        }
        for (int n = n_lo; n < n_lo + per_split; ++n) {
            const float a2 = a_mat[(int64_t)d * n_state + n] * kLog2e;
            float pk[kItems], sk[kItems], pr = 1.f, sr = 0.f;
#pragma unroll
            for (int k = 0; k < kItems; ++k) {
                float a = exp2f(dt[k] * a2);
                sr = fmaf(a, sr, dtu[k] * sb[n * kRow + pad(lane * kItems + k)]);
                pr *= a;
                pk[k] = pr;
                sk[k] = sr;
            }
            warp_scan_up(pr, sr, lane);
            float pe = __shfl_up_sync(kFull, pr, 1), se = __shfl_up_sync(kFull, sr, 1);
            float p31 = __shfl_sync(kFull, pr, 31), s31 = __shfl_sync(kFull, sr, 31);
            float h_in = carry[ch * n_state + n];
            float h_lane = lane == 0 ? h_in : fmaf(pe, h_in, se);
#pragma unroll
            for (int k = 0; k < kItems; ++k) {
                float h = fmaf(pk[k], h_lane, sk[k]);
                y[k] = fmaf(sc[n * kRow + pad(lane * kItems + k)], h, y[k]);
            }
            __syncwarp();
            if (lane == 0) {
                int64_t at = (((int64_t)b * p.d_inner + d) * n_chunks + c) * n_state + n;
                chunk_states[at] = h_in;
                carry[ch * n_state + n] = fmaf(p31, h_in, s31);
            }
        }
#pragma unroll
        for (int k = 0; k < kItems; ++k) atomicAdd(&sy[ch * kRow + pad(lane * kItems + k)], y[k]);
        __syncthreads();
        batched<float>(
            kChunk * n_ch, tid, nthreads,
            [&](int e) {  // z
                int i = e >> ch_shift, s = s0 + i;
                if (!p.has_z || s >= p.len) return 0.f;
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + d0 + (e & (n_ch - 1));
                return to_f32(seqs[2 * n_seq + x]);
            },
            [&](int e, float z) {
                int i = e >> ch_shift, k = e & (n_ch - 1), s = s0 + i;
                if (s >= p.len) return;
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + d0 + k;
                float v = sy[k * kRow + pad(i)];
                out[x] = p.has_z ? v * z * sigmoid(z) : v;
            });
    }
    __syncthreads();
    for (int e = tid; e < n_ch * n_state; e += nthreads) {
        last_state[((int64_t)b * p.d_inner + d0) * n_state + e] = carry[e];
    }
}

// Backward. Gradients go to f32 buffers: grad_seqs = [du; ddelta; dz] (written), grad_bc =
// [dB; dC] and grad_params = [dA; dD; ddelta_bias] (accumulated with atomics: zero them first).
// grad_out = [dy; dlast_state; ...] and chunk_states come from the forward's output.
// Chunks run last to first; each recomputes its states from chunk_states, then scans the
// adjoint g_s = a_{s+1} g_{s+1} + dy_s C_s backwards with the same warp-shuffle scheme, seeded
// by dlast_state. One warp per channel (no state splits), so per-step sums stay in registers.
template <typename T>
__device__ void scan_bwd(const T* __restrict__ seqs, const T* __restrict__ bc,
                         const float* __restrict__ params, const float* __restrict__ fwd_out,
                         const float* __restrict__ grad_out, float* __restrict__ grad_seqs,
                         float* __restrict__ grad_bc, float* __restrict__ grad_params, Dims p) {
    extern __shared__ float smem[];
    const int n_ch = blockDim.y, n_state = p.d_state;
    const int ch_shift = __ffs(n_ch) - 1;  // n_ch is a power of two
    const int lane = threadIdx.x, ch = threadIdx.y;
    const int tid = lane + 32 * ch, nthreads = 32 * n_ch;
    const int b = blockIdx.y, d0 = blockIdx.x * n_ch, d = d0 + ch;
    const int g = d0 / (p.d_inner / p.groups);
    float* su = smem;                       // u, then du
    float* sdt = su + n_ch * kRow;          // dt, then d(dt)
    float* sdy = sdt + n_ch * kRow;         // dy (gated), then y (before the gate)
    float* sb = sdy + n_ch * kRow;
    float* sc = sb + n_state * kRow;
    float* sdb = sc + n_state * kRow;       // dB summed over the block's channels
    float* sdc = sdb + n_state * kRow;      // dC
    float* g_carry = sdc + n_state * kRow;  // [ch][n] adjoint at the next chunk's first step
    float* a_carry = g_carry + n_ch * n_state;  // [ch][n] a at the next chunk's first step
    float* s_dbias = a_carry + n_ch * n_state;  // [ch]

    const float* a_mat = params;
    const float* d_vec = params + p.d_inner * n_state;
    const float* bias = d_vec + p.d_inner;
    const int64_t n_seq = p.n_seq(), n_bc = p.n_bc();
    const int64_t n_state_all = (int64_t)p.batch * p.d_inner * n_state;
    const float* chunk_states = fwd_out + n_seq + n_state_all;
    const float* grad_last = grad_out + n_seq;
    float* grad_a = grad_params;
    float* grad_d = grad_a + p.d_inner * n_state;
    float* grad_bias = grad_d + p.d_inner;
    const int n_chunks = p.n_chunks();

    for (int e = tid; e < n_ch * n_state; e += nthreads) {
        g_carry[e] = grad_last[((int64_t)b * p.d_inner + d0) * n_state + e];
        a_carry[e] = 1.f;
    }
    for (int e = tid; e < n_state * kRow; e += nthreads) {
        sdb[e] = 0.f;
        sdc[e] = 0.f;
    }
    if (tid < n_ch) s_dbias[tid] = 0.f;
    const float d_skip = d_vec[d];
    const bool state_pow2 = (n_state & (n_state - 1)) == 0;
    const int state_shift = __ffs(n_state) - 1;
    float dd_acc = 0.f, dbias_acc = 0.f;

    for (int c = n_chunks - 1; c >= 0; --c) {
        const int s0 = c * kChunk;
        __syncthreads();
        batched<float4>(
            kChunk * n_ch, tid, nthreads,
            [&](int e) {  // (u, raw delta, dout, z)
                int i = e >> ch_shift, s = s0 + i;
                if (s >= p.len) return make_float4(0.f, 0.f, 0.f, 0.f);
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + d0 + (e & (n_ch - 1));
                float z = p.has_z ? to_f32(seqs[2 * n_seq + x]) : 0.f;
                return make_float4(to_f32(seqs[x]), to_f32(seqs[n_seq + x]), grad_out[x], z);
            },
            [&](int e, float4 v) {
                int i = e >> ch_shift, k = e & (n_ch - 1), dk = d0 + k;
                bool inside = s0 + i < p.len;
                su[k * kRow + pad(i)] = v.x;
                sdt[k * kRow + pad(i)] = inside ? step_size(v.y, bias[dk], p.use_softplus) : 0.f;
                sdy[k * kRow + pad(i)] = p.has_z ? v.z * v.w * sigmoid(v.w) : v.z;
            });
        load_bc(bc, p, b, g, s0, sb, sc);
        __syncthreads();

        float u[kItems], dt[kItems], dy[kItems], du[kItems], ddt[kItems], y[kItems];
#pragma unroll
        for (int k = 0; k < kItems; ++k) {
            int at = ch * kRow + pad(lane * kItems + k);
            u[k] = su[at];
            dt[k] = sdt[at];
            dy[k] = sdy[at];
            du[k] = d_skip * dy[k];
            ddt[k] = 0.f;
            y[k] = d_skip * u[k];
            dd_acc = fmaf(dy[k], u[k], dd_acc);
        }
        for (int n = 0; n < n_state; ++n) {
            const float a_n = a_mat[(int64_t)d * n_state + n], a2 = a_n * kLog2e;
            float ak[kItems], hk[kItems], pk[kItems], bk[kItems], pr = 1.f, sr = 0.f;
            // Recompute the states of this chunk.
#pragma unroll
            for (int k = 0; k < kItems; ++k) {
                float a = exp2f(dt[k] * a2);
                bk[k] = sb[n * kRow + pad(lane * kItems + k)];
                sr = fmaf(a, sr, dt[k] * u[k] * bk[k]);
                pr *= a;
                ak[k] = a;
                pk[k] = pr;
                hk[k] = sr;
            }
            warp_scan_up(pr, sr, lane);
            float pe = __shfl_up_sync(kFull, pr, 1), se = __shfl_up_sync(kFull, sr, 1);
            float h_chunk =
                chunk_states[(((int64_t)b * p.d_inner + d) * n_chunks + c) * n_state + n];
            float h_lane = lane == 0 ? h_chunk : fmaf(pe, h_chunk, se);
#pragma unroll
            for (int k = 0; k < kItems; ++k) hk[k] = fmaf(pk[k], h_lane, hk[k]);

            // The adjoint, from the last step backwards: g_k = alpha_k g_{k+1} + dy_k C_k with
            // alpha_k the decay of the following step.
            const float g_next = g_carry[ch * n_state + n], a_next = a_carry[ch * n_state + n];
            float a_right = __shfl_down_sync(kFull, ak[0], 1);
            if (lane == 31) a_right = a_next;
            float ck[kItems], sk[kItems];
            pr = 1.f;
            sr = 0.f;
#pragma unroll
            for (int k = kItems - 1; k >= 0; --k) {
                float alpha = k == kItems - 1 ? a_right : ak[k + 1];
                ck[k] = sc[n * kRow + pad(lane * kItems + k)];
                sr = fmaf(alpha, sr, dy[k] * ck[k]);
                pr *= alpha;
                pk[k] = pr;  // g_k = pk[k] * g_in + sk[k]
                sk[k] = sr;
            }
            warp_scan_down(pr, sr, lane);
            float pn = __shfl_down_sync(kFull, pr, 1), sn = __shfl_down_sync(kFull, sr, 1);
            float p0 = __shfl_sync(kFull, pr, 0), s0v = __shfl_sync(kFull, sr, 0);
            float a_first = __shfl_sync(kFull, ak[0], 0);
            float g_in = lane == 31 ? g_next : fmaf(pn, g_next, sn);
            float da = 0.f;
#pragma unroll
            for (int k = 0; k < kItems; ++k) {
                float gk = fmaf(pk[k], g_in, sk[k]);
                float h = hk[k];
                float b_in = dt[k] * u[k] * bk[k];
                float decayed = h - b_in;  // a_k * h_{k-1}
                y[k] = fmaf(ck[k], h, y[k]);
                du[k] = fmaf(gk * dt[k], bk[k], du[k]);
                ddt[k] = fmaf(gk, fmaf(a_n, decayed, bk[k] * u[k]), ddt[k]);
                da = fmaf(gk * dt[k], decayed, da);
                int at = n * kRow + pad(lane * kItems + k);
                atomicAdd(&sdb[at], gk * dt[k] * u[k]);
                atomicAdd(&sdc[at], dy[k] * h);
            }
            da = warp_sum(da);
            __syncwarp();
            if (lane == 0) {
                atomicAdd(&grad_a[(int64_t)d * n_state + n], da);
                g_carry[ch * n_state + n] = fmaf(p0, g_next, s0v);
                a_carry[ch * n_state + n] = a_first;
            }
        }
#pragma unroll
        for (int k = 0; k < kItems; ++k) {
            int at = ch * kRow + pad(lane * kItems + k);
            su[at] = du[k];
            sdt[at] = ddt[k];
            sdy[at] = y[k];
        }
        __syncthreads();
        batched<float4>(
            kChunk * n_ch, tid, nthreads,
            [&](int e) {  // (raw delta, z, dout, unused)
                int i = e >> ch_shift, s = s0 + i;
                if (s >= p.len) return make_float4(0.f, 0.f, 0.f, 0.f);
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + d0 + (e & (n_ch - 1));
                float z = p.has_z ? to_f32(seqs[2 * n_seq + x]) : 0.f;
                float dout = p.has_z ? grad_out[x] : 0.f;
                return make_float4(to_f32(seqs[n_seq + x]), z, dout, 0.f);
            },
            [&](int e, float4 v) {
                int i = e >> ch_shift, k = e & (n_ch - 1), s = s0 + i, dk = d0 + k;
                if (s >= p.len) return;
                int64_t x = ((int64_t)b * p.len + p.token(s)) * p.d_inner + dk;
                int at = k * kRow + pad(i);
                grad_seqs[x] = su[at];
                float ddelta = sdt[at];
                float xb = v.x + bias[dk];
                if (p.use_softplus && xb <= 20.f) ddelta *= sigmoid(xb);
                grad_seqs[n_seq + x] = ddelta;
                // nthreads is a multiple of n_ch, so this thread's channel k never changes.
                dbias_acc += ddelta;
                if (p.has_z) {
                    float sz = sigmoid(v.y);
                    grad_seqs[2 * n_seq + x] = v.z * sdy[at] * sz * (1.f + v.y * (1.f - sz));
                }
            });
        for (int e = tid; e < kChunk * n_state; e += nthreads) {
            int i = state_pow2 ? e >> state_shift : e / n_state, n = e - i * n_state, s = s0 + i;
            int at = n * kRow + pad(i);
            if (s < p.len) {
                int64_t off = (((int64_t)b * p.len + p.token(s)) * p.groups + g) * n_state + n;
                atomicAdd(&grad_bc[off], sdb[at]);
                atomicAdd(&grad_bc[n_bc + off], sdc[at]);
            }
            sdb[at] = 0.f;
            sdc[at] = 0.f;
        }
    }
    dd_acc = warp_sum(dd_acc);
    if (lane == 0) atomicAdd(&grad_d[d], dd_acc);
    atomicAdd(&s_dbias[tid % n_ch], dbias_acc);
    __syncthreads();
    if (tid < n_ch) atomicAdd(&grad_bias[d0 + tid], s_dbias[tid]);
}

}  // namespace

#define AUM_SCAN_KERNELS(T, SUFFIX)                                                            \
    extern "C" __global__ void __launch_bounds__(512)                                          \
        selective_scan_fwd_##SUFFIX(const T* seqs, const T* bc, const float* params,          \
                                    const float* h0, float* out, Dims p) {                    \
        scan_fwd<T>(seqs, bc, params, h0, out, p);                                             \
    }                                                                                          \
    extern "C" __global__ void __launch_bounds__(256)                                          \
        selective_scan_bwd_##SUFFIX(const T* seqs, const T* bc, const float* params,          \
                                    const float* fwd_out, const float* grad_out,              \
                                    float* grad_seqs, float* grad_bc, float* grad_params,     \
                                    Dims p) {                                                  \
        scan_bwd<T>(seqs, bc, params, fwd_out, grad_out, grad_seqs, grad_bc, grad_params, p); \
    }

AUM_SCAN_KERNELS(float, f32)
AUM_SCAN_KERNELS(__half, f16)
AUM_SCAN_KERNELS(__nv_bfloat16, bf16)
