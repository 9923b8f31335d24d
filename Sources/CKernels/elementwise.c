// Vectorised elementwise and row kernels of a transformer step: exp, SwiGLU and RMSNorm with their
// backwards. Each has an AVX2+FMA body (per-function target attribute, chosen at run time) and a
// plain C body for every other CPU; both compute the same formulas. The Swift layer splits the work
// across threads (disjoint ranges of elements or rows).
#include <math.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "CKernels.h"

static _Atomic int has_avx2 = -1;

static inline int use_avx2(void) {
    int known = atomic_load_explicit(&has_avx2, memory_order_relaxed);
    if (known < 0) {
        known = pk_cpu_has_avx2_fma();
        atomic_store_explicit(&has_avx2, known, memory_order_relaxed);
    }
    return known;
}

// Arguments at or below this give exactly 0 (e^-87.3 ≈ FLT_MIN; below it the result would be denormal).
#define PK_EXP_LOW (-87.33654475f)
#define PK_EXP_HIGH 88.72283905f

// MARK: - Portable

static inline float sigmoid_scalar(float x) { return 1.0f / (1.0f + expf(-x)); }

static void swiglu_forward_portable(const float *gate, const float *up, float *out, long n) {
    for (long i = 0; i < n; i++) out[i] = gate[i] * sigmoid_scalar(gate[i]) * up[i];
}

static void swiglu_backward_portable(const float *gate, const float *up, const float *g,
                                     float *dgate, float *dup, long n) {
    for (long i = 0; i < n; i++) {
        const float s = sigmoid_scalar(gate[i]);
        if (dup) dup[i] = g[i] * gate[i] * s;
        if (dgate) dgate[i] = g[i] * up[i] * s * (1.0f + gate[i] * (1.0f - s));
    }
}

// GELU with the tanh approximation, written as x·σ(2u) with u = √(2/π)·(x + 0.044715·x³)
// (0.5·(1 + tanh(u)) = σ(2u)); its slope is σ(2u) + x·σ(2u)·(1 − σ(2u))·2u′, u′ = √(2/π)·(1 + 3·0.044715·x²).
#define PK_GELU_C 0.7978845608028654f
#define PK_GELU_A 0.044715f

static void geglu_forward_portable(const float *gate, const float *up, float *out, long n) {
    for (long i = 0; i < n; i++) {
        const float x = gate[i];
        out[i] = x * sigmoid_scalar(2.0f * PK_GELU_C * (x + PK_GELU_A * x * x * x)) * up[i];
    }
}

static void geglu_backward_portable(const float *gate, const float *up, const float *g,
                                    float *dgate, float *dup, long n) {
    for (long i = 0; i < n; i++) {
        const float x = gate[i];
        const float s = sigmoid_scalar(2.0f * PK_GELU_C * (x + PK_GELU_A * x * x * x));
        if (dup) dup[i] = g[i] * x * s;
        if (dgate) {
            const float slope = s + x * s * (1.0f - s) * 2.0f * PK_GELU_C * (1.0f + 3.0f * PK_GELU_A * x * x);
            dgate[i] = g[i] * up[i] * slope;
        }
    }
}

static float exp_shifted_portable(float *x, long n, float shift) {
    float total = 0.0f;
    for (long i = 0; i < n; i++) {
        const float v = x[i] - shift;
        const float e = v <= PK_EXP_LOW ? 0.0f : expf(v);
        x[i] = e;
        total += e;
    }
    return total;
}

// MARK: - AVX2

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PK_AVX2 __attribute__((target("avx2,fma")))

/// e^x for 8 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial (relative error
/// ≈ 2 ulp), times 2^n built in the exponent bits. Lanes at or below PK_EXP_LOW give 0, above
/// PK_EXP_HIGH +inf, NaN stays NaN.
PK_AVX2 static inline __m256 exp8(__m256 x) {
    const __m256 high = _mm256_set1_ps(PK_EXP_HIGH), low = _mm256_set1_ps(PK_EXP_LOW);
    const __m256 underflow = _mm256_cmp_ps(x, low, _CMP_LE_OQ);
    const __m256 overflow = _mm256_cmp_ps(x, high, _CMP_GT_OQ);
    // max/min return the second operand when the first is NaN, so NaN lanes survive the clamp.
    __m256 v = _mm256_min_ps(high, _mm256_max_ps(low, x));
    // Lanes that give 0 compute e^0 instead: at the clamp, p·2⁻¹²⁶ would be subnormal, and every
    // subnormal result costs a microcode assist (about 10× the whole function; softmax rows under a
    // causal mask are half −∞).
    v = _mm256_blendv_ps(v, _mm256_setzero_ps(), underflow);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    v = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), v);
    v = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), v);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, v, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(v, v), _mm256_add_ps(v, _mm256_set1_ps(1.0f)));
    // 2^n for n in [-126, 128]: n = 128 (only from x near PK_EXP_HIGH) is split as 2·2^127.
    const __m256 n127 = _mm256_min_ps(n, _mm256_set1_ps(127.0f));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n127), _mm256_set1_epi32(127)), 23);
    __m256 result = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    result = _mm256_mul_ps(result, _mm256_blendv_ps(_mm256_set1_ps(1.0f), _mm256_set1_ps(2.0f),
                                                     _mm256_cmp_ps(n, n127, _CMP_GT_OQ)));
    result = _mm256_andnot_ps(underflow, result);
    return _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), overflow);
}

PK_AVX2 static inline __m256 sigmoid8(__m256 x) {
    const __m256 one = _mm256_set1_ps(1.0f);
    return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
}

PK_AVX2 static void swiglu_forward_avx2(const float *gate, const float *up, float *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(x, sigmoid8(x)), _mm256_loadu_ps(up + i)));
    }
    swiglu_forward_portable(gate + i, up + i, out + i, n - i);
}

PK_AVX2 static void swiglu_backward_avx2(const float *gate, const float *up, const float *g,
                                         float *dgate, float *dup, long n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i), gi = _mm256_loadu_ps(g + i);
        const __m256 s = sigmoid8(x);
        if (dup) _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(gi, x), s));
        if (dgate) {
            const __m256 slope = _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one);
            _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(gi, _mm256_loadu_ps(up + i)), s), slope));
        }
    }
    swiglu_backward_portable(gate + i, up + i, g + i, dgate ? dgate + i : NULL, dup ? dup + i : NULL, n - i);
}

PK_AVX2 static inline __m256 gelu_argument8(__m256 x) {
    // 2u = 2·√(2/π)·(x + 0.044715·x³)
    const __m256 cube = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
    return _mm256_mul_ps(_mm256_set1_ps(2.0f * PK_GELU_C), _mm256_fmadd_ps(_mm256_set1_ps(PK_GELU_A), cube, x));
}

PK_AVX2 static void geglu_forward_avx2(const float *gate, const float *up, float *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(x, sigmoid8(gelu_argument8(x))), _mm256_loadu_ps(up + i)));
    }
    geglu_forward_portable(gate + i, up + i, out + i, n - i);
}

PK_AVX2 static void geglu_backward_avx2(const float *gate, const float *up, const float *g,
                                        float *dgate, float *dup, long n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i), gi = _mm256_loadu_ps(g + i);
        const __m256 s = sigmoid8(gelu_argument8(x));
        if (dup) _mm256_storeu_ps(dup + i, _mm256_mul_ps(_mm256_mul_ps(gi, x), s));
        if (dgate) {
            // slope = s + x·s·(1 − s)·2√(2/π)·(1 + 3·0.044715·x²)
            const __m256 inner = _mm256_mul_ps(_mm256_set1_ps(2.0f * PK_GELU_C),
                                               _mm256_fmadd_ps(_mm256_set1_ps(3.0f * PK_GELU_A), _mm256_mul_ps(x, x), one));
            const __m256 slope = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(x, s), _mm256_sub_ps(one, s)), inner, s);
            _mm256_storeu_ps(dgate + i, _mm256_mul_ps(_mm256_mul_ps(gi, _mm256_loadu_ps(up + i)), slope));
        }
    }
    geglu_backward_portable(gate + i, up + i, g + i, dgate ? dgate + i : NULL, dup ? dup + i : NULL, n - i);
}

PK_AVX2 static float exp_shifted_avx2(float *x, long n, float shift) {
    const __m256 vs = _mm256_set1_ps(shift);
    __m256 acc = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    _Alignas(32) float lanes[8];
    _mm256_store_ps(lanes, acc);
    float total = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    return total + exp_shifted_portable(x + i, n - i, shift);
}

PK_AVX2 static void exp_avx2(const float *x, float *out, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) out[i] = expf(x[i]);
}

PK_AVX2 static inline float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

PK_AVX2 static void rmsnorm_forward_avx2(const float *x, const float *w, float *out, float *inverse,
                                         long rows, long c, float epsilon) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * c;
        float *o = out + r * c;
        __m256 acc = _mm256_setzero_ps();
        long j = 0;
        for (; j + 8 <= c; j += 8) {
            const __m256 v = _mm256_loadu_ps(row + j);
            acc = _mm256_fmadd_ps(v, v, acc);
        }
        float sum = sum8(acc);
        for (; j < c; j++) sum += row[j] * row[j];
        const float inv = 1.0f / sqrtf(sum / (float)c + epsilon);
        inverse[r] = inv;
        const __m256 vi = _mm256_set1_ps(inv);
        for (j = 0; j + 8 <= c; j += 8) {
            _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(row + j), vi), _mm256_loadu_ps(w + j)));
        }
        for (; j < c; j++) o[j] = row[j] * inv * w[j];
    }
}

PK_AVX2 static void rmsnorm_backward_avx2(const float *x, const float *w, const float *g, const float *inverse,
                                          float *dx, long rows, long c) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * c, *grow = g + r * c;
        float *d = dx + r * c;
        __m256 acc = _mm256_setzero_ps();
        long j = 0;
        for (; j + 8 <= c; j += 8) {
            acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_loadu_ps(grow + j), _mm256_loadu_ps(w + j)), _mm256_loadu_ps(row + j), acc);
        }
        float dot = sum8(acc);
        for (; j < c; j++) dot += grow[j] * w[j] * row[j];
        const float inv = inverse[r];
        const float k = inv * inv * inv * dot / (float)c;
        const __m256 vi = _mm256_set1_ps(inv), vk = _mm256_set1_ps(k);
        for (j = 0; j + 8 <= c; j += 8) {
            const __m256 u = _mm256_mul_ps(_mm256_loadu_ps(grow + j), _mm256_loadu_ps(w + j));
            _mm256_storeu_ps(d + j, _mm256_fnmadd_ps(_mm256_loadu_ps(row + j), vk, _mm256_mul_ps(vi, u)));
        }
        for (; j < c; j++) d[j] = inv * grow[j] * w[j] - row[j] * k;
    }
}
#endif

// MARK: - Portable row kernels

static void rmsnorm_forward_portable(const float *x, const float *w, float *out, float *inverse,
                                     long rows, long c, float epsilon) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * c;
        float sum = 0.0f;
        for (long j = 0; j < c; j++) sum += row[j] * row[j];
        const float inv = 1.0f / sqrtf(sum / (float)c + epsilon);
        inverse[r] = inv;
        for (long j = 0; j < c; j++) out[r * c + j] = row[j] * inv * w[j];
    }
}

static void rmsnorm_backward_portable(const float *x, const float *w, const float *g, const float *inverse,
                                      float *dx, long rows, long c) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * c, *grow = g + r * c;
        float dot = 0.0f;
        for (long j = 0; j < c; j++) dot += grow[j] * w[j] * row[j];
        const float inv = inverse[r];
        const float k = inv * inv * inv * dot / (float)c;
        for (long j = 0; j < c; j++) dx[r * c + j] = inv * grow[j] * w[j] - row[j] * k;
    }
}

// MARK: - Entry points

void pk_swiglu_forward(const float *gate, const float *up, float *out, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { swiglu_forward_avx2(gate, up, out, n); return; }
#endif
    swiglu_forward_portable(gate, up, out, n);
}

void pk_swiglu_backward(const float *gate, const float *up, const float *g, float *dgate, float *dup, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { swiglu_backward_avx2(gate, up, g, dgate, dup, n); return; }
#endif
    swiglu_backward_portable(gate, up, g, dgate, dup, n);
}

void pk_geglu_forward(const float *gate, const float *up, float *out, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { geglu_forward_avx2(gate, up, out, n); return; }
#endif
    geglu_forward_portable(gate, up, out, n);
}

void pk_geglu_backward(const float *gate, const float *up, const float *g, float *dgate, float *dup, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { geglu_backward_avx2(gate, up, g, dgate, dup, n); return; }
#endif
    geglu_backward_portable(gate, up, g, dgate, dup, n);
}

float pk_exp_shifted(float *x, long n, float shift) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) return exp_shifted_avx2(x, n, shift);
#endif
    return exp_shifted_portable(x, n, shift);
}

void pk_exp(const float *x, float *out, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { exp_avx2(x, out, n); return; }
#endif
    for (long i = 0; i < n; i++) out[i] = expf(x[i]);
}

void pk_rmsnorm_forward(const float *x, const float *w, float *out, float *inverse, long rows, long c, float epsilon) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { rmsnorm_forward_avx2(x, w, out, inverse, rows, c, epsilon); return; }
#endif
    rmsnorm_forward_portable(x, w, out, inverse, rows, c, epsilon);
}

void pk_rmsnorm_backward(const float *x, const float *w, const float *g, const float *inverse, float *dx, long rows, long c) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { rmsnorm_backward_avx2(x, w, g, inverse, dx, rows, c); return; }
#endif
    rmsnorm_backward_portable(x, w, g, inverse, dx, rows, c);
}

// MARK: - Binary arithmetic

// One IEEE operation per element, as Swift's scalar operators compute it (no contraction into FMA), so
// the results equal a plain loop's bit for bit. The AVX2 bodies are the same loops compiled for 8 lanes.
#define PK_BINARY_LOOPS(OP, A_AT, B_AT)                                                           \
    switch (OP) {                                                                                \
    case PK_BINARY_ADD: for (long i = 0; i < n; i++) out[i] = A_AT + B_AT; break;                \
    case PK_BINARY_SUBTRACT: for (long i = 0; i < n; i++) out[i] = A_AT - B_AT; break;           \
    case PK_BINARY_MULTIPLY: for (long i = 0; i < n; i++) out[i] = A_AT * B_AT; break;           \
    case PK_BINARY_DIVIDE: for (long i = 0; i < n; i++) out[i] = A_AT / B_AT; break;             \
    }

static void binary_portable(pk_binary_op op, const float *a, const float *b, float *out, long n) {
    PK_BINARY_LOOPS(op, a[i], b[i])
}

static void binary_scalar_portable(pk_binary_op op, const float *a, float s, float *out, long n) {
    PK_BINARY_LOOPS(op, a[i], s)
}

#if defined(__x86_64__) || defined(__i386__)
PK_AVX2 static void binary_avx2(pk_binary_op op, const float *a, const float *b, float *out, long n) {
    PK_BINARY_LOOPS(op, a[i], b[i])
}

PK_AVX2 static void binary_scalar_avx2(pk_binary_op op, const float *a, float s, float *out, long n) {
    PK_BINARY_LOOPS(op, a[i], s)
}
#endif

void pk_binary(pk_binary_op op, const float *a, const float *b, float *out, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { binary_avx2(op, a, b, out, n); return; }
#endif
    binary_portable(op, a, b, out, n);
}

void pk_binary_scalar(pk_binary_op op, const float *a, float s, float *out, long n) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { binary_scalar_avx2(op, a, s, out, n); return; }
#endif
    binary_scalar_portable(op, a, s, out, n);
}

// MARK: - Rotary position embedding

// Products in separate statements: no contraction into FMA, so the results equal Swift's scalar loop.
#define PK_ROTARY_LOOPS                                                                          \
    for (long row = first_row; row < first_row + rows; row++) {                                  \
        const float *in = x + row * 2 * half;                                                    \
        float *out = y + row * 2 * half;                                                         \
        const float *cs = cosines + (row % steps) * half, *sn = sines + (row % steps) * half;    \
        for (long i = 0; i < half; i++) {                                                        \
            const float c = cs[i], s = direction * sn[i], a = in[i], b = in[i + half];           \
            const float ac = a * c, bs = b * s, bc = b * c, as = a * s;                          \
            out[i] = ac - bs;                                                                    \
            out[i + half] = bc + as;                                                             \
        }                                                                                        \
    }

static void rotary_portable(const float *x, float *y, const float *cosines, const float *sines, long first_row,
                            long rows, long steps, long half, float direction) {
    PK_ROTARY_LOOPS
}

#if defined(__x86_64__) || defined(__i386__)
PK_AVX2 static void rotary_avx2(const float *x, float *y, const float *cosines, const float *sines, long first_row,
                                long rows, long steps, long half, float direction) {
    PK_ROTARY_LOOPS
}
#endif

void pk_rotary(const float *x, float *y, const float *cosines, const float *sines, long first_row, long rows,
               long steps, long half, float direction) {
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) { rotary_avx2(x, y, cosines, sines, first_row, rows, steps, half, direction); return; }
#endif
    rotary_portable(x, y, cosines, sines, first_row, rows, steps, half, direction);
}

// MARK: - Attention softmax rows

/// The maximum of x[0..n), or the first NaN among them (−∞ for n = 0): a running max in any order.
static float row_maximum_portable(const float *x, long n) {
    float maximum = -INFINITY;
    for (long i = 0; i < n; i++) {
        if (x[i] != x[i]) return x[i];
        if (x[i] > maximum) maximum = x[i];
    }
    return maximum;
}

static float dot_portable(const float *a, const float *b, long n) {
    float total = 0.0f;
    for (long i = 0; i < n; i++) total += a[i] * b[i];
    return total;
}

// d = p ⊙ (d − dot) · scale, compiled for both paths.
#define PK_SOFTMAX_BACKWARD_LOOP for (long i = 0; i < n; i++) d[i] = p[i] * (d[i] - dot) * scale;

static void softmax_backward_update_portable(const float *p, float *d, long n, float dot, float scale) {
    PK_SOFTMAX_BACKWARD_LOOP
}

#if defined(__x86_64__) || defined(__i386__)
PK_AVX2 static float row_maximum_avx2(const float *x, long n) {
    __m256 maximum = _mm256_set1_ps(-INFINITY), unordered = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        unordered = _mm256_or_ps(unordered, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        maximum = _mm256_max_ps(maximum, v);
    }
    // A NaN: the portable scan finds the first one.
    if (_mm256_movemask_ps(unordered) != 0) return row_maximum_portable(x, n);
    _Alignas(32) float lanes[8];
    _mm256_store_ps(lanes, maximum);
    const float vectors = row_maximum_portable(lanes, 8), tail = row_maximum_portable(x + i, n - i);
    return tail != tail || tail > vectors ? tail : vectors;
}

/// Σ a[i]·b[i] in eight lanes.
PK_AVX2 static float dot_avx2(const float *a, const float *b, long n) {
    __m256 sum = _mm256_setzero_ps();
    long i = 0;
    for (; i + 8 <= n; i += 8) sum = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), sum);
    return sum8(sum) + dot_portable(a + i, b + i, n - i);
}

PK_AVX2 static void softmax_backward_update_avx2(const float *p, float *d, long n, float dot, float scale) {
    PK_SOFTMAX_BACKWARD_LOOP
}
#endif

void pk_softmax_prefix(float *x, long n, long visible) {
    if (visible <= 0) {
        memset(x, 0, (size_t)(n > 0 ? n : 0) * sizeof(float));
        return;
    }
    if (visible > n) visible = n;
#if defined(__x86_64__) || defined(__i386__)
    const float maximum = use_avx2() ? row_maximum_avx2(x, visible) : row_maximum_portable(x, visible);
#else
    const float maximum = row_maximum_portable(x, visible);
#endif
    for (long i = visible; i < n; i++) x[i] = -INFINITY;
    // Masked scores are −∞ and become exactly 0.
    const float total = pk_exp_shifted(x, n, maximum);
    pk_binary_scalar(PK_BINARY_MULTIPLY, x, 1.0f / total, x, n);
}

void pk_softmax_backward_rows(const float *p, float *d, long rows, long n, float scale) {
    float (*dot)(const float *, const float *, long) = dot_portable;
    void (*update)(const float *, float *, long, float, float) = softmax_backward_update_portable;
#if defined(__x86_64__) || defined(__i386__)
    if (use_avx2()) {
        dot = dot_avx2;
        update = softmax_backward_update_avx2;
    }
#endif
    for (long row = 0; row < rows; row++) update(p + row * n, d + row * n, n, dot(d + row * n, p + row * n, n), scale);
}
