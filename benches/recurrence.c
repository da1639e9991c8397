/* The AVX-512 scan's inner loop in C, to see what this CPU's vector ports allow for it
 * (docs/kernels.md, "Where it stops"). Data stays in L1: 64 tokens, 16 states, 16 channels.
 *
 *   gcc -O3 -march=sapphirerapids benches/recurrence.c -o /tmp/recurrence
 *   gcc -O3 -march=sapphirerapids -DNEAREST benches/recurrence.c -o /tmp/recurrence-nearest
 *   gcc -O3 -march=sapphirerapids -DROUNDSCALE benches/recurrence.c -o /tmp/recurrence-rnd
 *   /tmp/recurrence 0   # the recurrence as the kernel runs it: exp2 + state update + output
 *   /tmp/recurrence 1   # exp2 alone
 *
 * Prints ns per (token, state, 16 channels) on one core; the kernel's ns/elt is that / 16. */
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TOKENS 64
#define STATES 16

/* 2^x as in the kernel: clamp at -126, split off the fraction f = x - floor(x), degree-5
 * polynomial for 2^f on [0, 1), and vscalefps, which multiplies by 2^floor(x) itself.
 * -DNEAREST: the kernel's earlier split, f = x - round(x) on [-1/2, 1/2] and k = x - f
 * subtracted for the scale (one instruction more); -DROUNDSCALE: the one before, rounding
 * with vrndscaleps and subtracting. */
/* A degree-5 polynomial in f, coefficients highest degree first (Horner, five FMAs). */
static inline __m512 poly5(__m512 f, const float c[6]) {
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < 6; i++) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(c[i]));
    return p;
}

static inline __m512 exp2v(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-126.f), x);
#if defined(ROUNDSCALE) || defined(NEAREST)
    static const float c[6] = {1.3276472e-3f, 9.675542e-3f, 5.550713e-2f,
                               0.2402212f,    0.69314694f,  1.0000001f};
#ifdef ROUNDSCALE
    __m512 k = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(x, k);
#else
    __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 k = _mm512_sub_ps(x, f);
#endif
    return _mm512_scalef_ps(poly5(f, c), k);
#else
    static const float c[6] = {1.8671305e-3f, 9.017029e-3f, 5.5799913e-2f,
                               0.24016444f,   0.6931513f,   1.0f};
    __m512 f = _mm512_reduce_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm512_scalef_ps(poly5(f, c), x);
#endif
}

static __m512 dt[TOKENS], dtu[TOKENS], y[TOKENS], a2[STATES];
static float B[TOKENS * STATES], C[TOKENS * STATES];

int main(int argc, char **argv) {
    int exp_only = argc > 1 && atoi(argv[1]) == 1;
    for (int i = 0; i < TOKENS; i++) {
        dt[i] = _mm512_set1_ps(0.01f * (i % 7 + 1));
        dtu[i] = _mm512_set1_ps(0.1f);
        y[i] = _mm512_setzero_ps();
    }
    for (int i = 0; i < TOKENS * STATES; i++) B[i] = 0.5f, C[i] = 0.25f;
    for (int n = 0; n < STATES; n++) a2[n] = _mm512_set1_ps(-(n + 1) * 1.4427f);
    __m512 h[STATES];
    for (int n = 0; n < STATES; n++) h[n] = _mm512_setzero_ps();

    const long reps = 200000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < reps; r++) {
        for (int n = 0; n < STATES; n++) {
            __m512 s = h[n];
            for (int i = 0; i < TOKENS; i++) {
                __m512 decay = exp2v(_mm512_mul_ps(dt[i], a2[n]));
                if (exp_only) {
                    y[i] = _mm512_add_ps(decay, y[i]);
                    continue;
                }
                __m512 b = _mm512_set1_ps(B[i * STATES + n]), c = _mm512_set1_ps(C[i * STATES + n]);
                s = _mm512_fmadd_ps(decay, s, _mm512_mul_ps(dtu[i], b));
                y[i] = _mm512_fmadd_ps(s, c, y[i]);
            }
            h[n] = s;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    float check = 0;
    for (int i = 0; i < TOKENS; i++) check += _mm512_reduce_add_ps(y[i]);
    printf("%s: %.2f ns per (token, state, 16 channels) (checksum %g)\n",
           exp_only ? "exp2 alone" : "recurrence", secs / ((double)reps * STATES * TOKENS) * 1e9,
           check);
    return 0;
}
