// Decode-sized products (a few rows of activations against a block-quantized weight matrix) with the
// activations quantized to integers as well, as llama.cpp's CPU backend decodes: per block of 32, the
// integer dot product of the weight codes with the activation codes, scaled once by both scales
// (K-quants: per sub-block of 32 for Q4_K, per 16 values for Q6_K). A
// token's products then cost little more than reading the weights once. Activations take 8 bits
// against 4- to 6-bit weights (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K) and 16 bits against 8-bit ones (Q8_0): their rounding (relative
// step 2⁻⁸, or 2⁻¹⁶) stays well below the weights' own, and a Q8_0 vocabulary head, whose top logits
// can be a few hundredths apart, keeps its ranking. The result differs from the exact product by that
// rounding, which is why callers opt in.
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "CKernels.h"
#include "sgemm_internal.h"

/// How far ahead of the rows being read the kernels prefetch (the hardware prefetcher alone leaves the
/// loops waiting on memory at about half the bandwidth).
#ifndef PK_INT8_PREFETCH_BYTES
#define PK_INT8_PREFETCH_BYTES 8192
#endif

/// Activations as int8 (bits 8, scale max|x|/127) or int16 (bits 16, max|x|/32767) codes, in plain C:
/// nearest, ties to even (the vector path's rounding), clamped to ±levels.
static void quantize_activations_portable(int bits, const float *A, long M, long K, long lda, void *codes, float *scales, float *sums) {
    const float levels = bits == 8 ? 127.0f : 32767.0f;
    for (long m = 0; m < M; m++) {
        const float *x = A + m * lda;
        for (long b = 0; b < K / 32; b++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fabsf(x[32 * b + j]) > amax ? fabsf(x[32 * b + j]) : amax;
            const float d = amax / levels, inverse = d != 0.0f ? 1.0f / d : 0.0f;
            long sum = 0;
            for (int j = 0; j < 32; j++) {
                const float scaled = nearbyintf(x[32 * b + j] * inverse);
                const int value = (int)(scaled > levels ? levels : scaled < -levels ? -levels : scaled);
                if (bits == 8) ((int8_t *)codes)[m * K + 32 * b + j] = (int8_t)value;
                else ((int16_t *)codes)[m * K + 32 * b + j] = (int16_t)value;
                sum += value;
            }
            scales[m * (K / 32) + b] = d;
            sums[m * (K / 32) + b] = d * (float)sum;
        }
    }
}

static float half_value(const uint8_t *p) { return pk_half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

/// One Q4_0 or Q4_1 weight row against one row of int8 activations, in plain C (any CPU).
static float dot_row_portable(pk_quant_format format, const uint8_t *row, const int8_t *q, const float *d, const float *s, long blocks) {
    const long block_bytes = pk_quant_block_bytes(format);
    float total = 0.0f;
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * block_bytes;
        const int8_t *a = q + 32 * b;
        const float dw = half_value(block);
        const uint8_t *codes = block + (format == PK_QUANT_Q4_1 ? 4 : 2);
        int dot = 0;
        for (int j = 0; j < 16; j++) dot += (int)(codes[j] & 0xF) * a[j] + (int)(codes[j] >> 4) * a[j + 16];
        total += dw * d[b] * (float)dot;
        // Q4_0 codes are offset by 8; Q4_1 adds its minimum to every value.
        total += format == PK_QUANT_Q4_1 ? half_value(block + 2) * s[b] : -8.0f * dw * s[b];
    }
    return total;
}

/// One Q8_0 weight row against one row of int16 activations, in plain C.
static float dot_row_q8_0_portable(const uint8_t *row, const int16_t *q, const float *d, long blocks) {
    float total = 0.0f;
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * 34;
        long dot = 0;
        for (int j = 0; j < 32; j++) dot += (long)(int8_t)block[2 + j] * q[32 * b + j];
        total += half_value(block) * d[b] * (float)dot;
    }
    return total;
}

/// One Q5_0 or Q5_1 weight row against one row of int8 activations, in plain C: [d]([m])[32 high bits]
/// [16 bytes of nibbles: value j low, value j + 16 high]; codes 0…31, offset by 16 (Q5_0) or plus m (Q5_1).
static float dot_row_q5_portable(int with_minimum, const uint8_t *row, const int8_t *q, const float *d, const float *s, long blocks) {
    const long block_bytes = with_minimum ? 24 : 22;
    float total = 0.0f;
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * block_bytes, *high = block + (with_minimum ? 4 : 2), *codes = high + 4;
        const uint32_t qh = (uint32_t)high[0] | (uint32_t)high[1] << 8 | (uint32_t)high[2] << 16 | (uint32_t)high[3] << 24;
        const int8_t *a = q + 32 * b;
        const float dw = half_value(block);
        int dot = 0;
        for (int j = 0; j < 16; j++) {
            dot += (int)((codes[j] & 0xF) | ((qh >> j) & 1) << 4) * a[j];
            dot += (int)((codes[j] >> 4) | ((qh >> (j + 16)) & 1) << 4) * a[j + 16];
        }
        total += dw * d[b] * (float)dot;
        total += with_minimum ? half_value(block + 2) * s[b] : -16.0f * dw * s[b];
    }
    return total;
}

/// One Q4_K weight row (super-blocks of 256: d, dmin, 12 bytes of 6-bit scales and minimums, 128 bytes
/// of nibbles) against one row of int8 activations (blocks of 32, one per sub-block), in plain C:
/// per sub-block, d·scale·da·Σ q·a − dmin·minimum·(da·Σ a).
static float dot_row_q4_k_portable(const uint8_t *row, const int8_t *q, const float *d, const float *s, long blocks) {
    float total = 0.0f;
    for (long b = 0; b < blocks / 8; b++) {
        const uint8_t *block = row + b * 144, *codes = block + 16;
        const float dw = half_value(block), dmin = half_value(block + 2);
        for (int pair = 0; pair < 4; pair++) {
            const long j = 8 * b + 2 * pair;
            const int8_t *a = q + 32 * j;
            int sc1, m1, sc2, m2;
            pk_q4_k_scale_min(block + 4, 2 * pair, &sc1, &m1);
            pk_q4_k_scale_min(block + 4, 2 * pair + 1, &sc2, &m2);
            int dot1 = 0, dot2 = 0;
            for (int l = 0; l < 32; l++) {
                dot1 += (int)(codes[32 * pair + l] & 0xF) * a[l];
                dot2 += (int)(codes[32 * pair + l] >> 4) * a[32 + l];
            }
            total += dw * (float)sc1 * d[j] * (float)dot1 - dmin * (float)m1 * s[j];
            total += dw * (float)sc2 * d[j + 1] * (float)dot2 - dmin * (float)m2 * s[j + 1];
        }
    }
    return total;
}

/// One Q6_K weight row (super-blocks of 256: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8
/// scales, d) against one row of int8 activations, in plain C: per 16 values, d·scale·da·Σ (q − 32)·a.
static float dot_row_q6_k_portable(const uint8_t *row, const int8_t *q, const float *d, long blocks) {
    float total = 0.0f;
    for (long b = 0; b < blocks / 8; b++) {
        const uint8_t *block = row + b * 210;
        const float dw = half_value(block + 208);
        for (int half = 0; half < 2; half++) {
            const uint8_t *ql = block + 64 * half, *qh = block + 128 + 32 * half;
            const int8_t *sc = (const int8_t *)(block + 192) + 8 * half;
            for (int group = 0; group < 4; group++) {
                const long j = 8 * b + 4 * half + group;
                const int8_t *a = q + 32 * j;
                int dots[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    const uint8_t low = group % 2 == 0 ? ql[l] : ql[l + 32];
                    const int code = (int)((group < 2 ? low & 0xF : low >> 4) | (((qh[l] >> (2 * group)) & 3) << 4)) - 32;
                    dots[l / 16] += code * a[l];
                }
                total += dw * d[j] * ((float)sc[2 * group] * (float)dots[0] + (float)sc[2 * group + 1] * (float)dots[1]);
            }
        }
    }
    return total;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline float sum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

/// One block of 32 activations scaled to integer codes: loads v, finds d = max|x|/levels, writes the
/// rounded codes (clamped to ±levels) as int32 lanes in q, and returns d; `sum` gets Σ codes.
__attribute__((target("avx2,fma,f16c")))
static inline float block_codes_avx2(const float *x, float levels, __m256i q[4], int *sum) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 v[4];
    for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 amax = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    const float d = _mm_cvtss_f32(h) / levels, inverse = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 scale = _mm256_set1_ps(inverse), limit = _mm256_set1_ps(levels);
    for (int i = 0; i < 4; i++) {
        const __m256 scaled = _mm256_round_ps(_mm256_mul_ps(v[i], scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q[i] = _mm256_cvtps_epi32(_mm256_max_ps(_mm256_min_ps(scaled, limit), _mm256_sub_ps(_mm256_setzero_ps(), limit)));
    }
    const __m256i total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    *sum = _mm_cvtsi128_si32(t);
    return d;
}

/// Activations as int8 (bits 8) or int16 (bits 16) codes, block by block.
__attribute__((target("avx2,fma,f16c")))
static void quantize_activations_avx2(int bits, const float *A, long M, long K, long lda, void *codes, float *scales, float *sums) {
    for (long m = 0; m < M; m++) {
        for (long b = 0; b < K / 32; b++) {
            __m256i q[4];
            int sum;
            const float d = block_codes_avx2(A + m * lda + 32 * b, bits == 8 ? 127.0f : 32767.0f, q, &sum);
            // packs interleaves 128-bit lanes: fix the order afterwards.
            const __m256i words0 = _mm256_packs_epi32(q[0], q[1]), words1 = _mm256_packs_epi32(q[2], q[3]);
            if (bits == 8) {
                const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(words0, words1), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
                _mm256_storeu_si256((__m256i *)((int8_t *)codes + m * K + 32 * b), bytes);
            } else {
                int16_t *out = (int16_t *)codes + m * K + 32 * b;
                _mm256_storeu_si256((__m256i *)out, _mm256_permute4x64_epi64(words0, 0xD8));
                _mm256_storeu_si256((__m256i *)(out + 16), _mm256_permute4x64_epi64(words1, 0xD8));
            }
            scales[m * (K / 32) + b] = d;
            sums[m * (K / 32) + b] = d * (float)sum;
        }
    }
}

/// Q8_0 rows against int16 activations, four rows at a time: madd of sign-extended weights with the
/// activations gives exact int32 partial sums (|w·a| ≤ 128·32767, 32 of them stay below 2³¹).
__attribute__((target("avx2,fma,f16c")))
static void q8_0_rows_int16_avx2(long N, long K, const int16_t *qa, const float *da, const uint8_t *W, long row_bytes, float *C) {
    const long blocks = K / 32;
    const long ahead = ((PK_INT8_PREFETCH_BYTES + 4 * row_bytes - 1) / (4 * row_bytes)) * 4 * row_bytes;
    long n = 0;
    for (; n + 4 <= N; n += 4) {
        const uint8_t *rows[4] = {W + n * row_bytes, W + (n + 1) * row_bytes, W + (n + 2) * row_bytes, W + (n + 3) * row_bytes};
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (long b = 0; b < blocks; b++) {
            const long at = b * 34;
            const __m256i a0 = _mm256_loadu_si256((const __m256i *)(qa + 32 * b));
            const __m256i a1 = _mm256_loadu_si256((const __m256i *)(qa + 32 * b + 16));
            for (int r = 0; r < 4; r++) {
                const uint8_t *block = rows[r] + at;
                _mm_prefetch((const char *)(block + ahead), _MM_HINT_T0);
                const __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 2)));
                const __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 18)));
                const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, a0), _mm256_madd_epi16(w1, a1));
                acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(pk_load_half_f16c(block) * da[b]), acc[r]);
            }
        }
        for (int r = 0; r < 4; r++) C[n + r] = sum8(acc[r]);
    }
    for (; n < N; n++) C[n] = dot_row_q8_0_portable(W + n * row_bytes, qa, da, blocks);
}

// Two weight rows share one register: its low 128 bits hold row r's codes, its high 128 bits row r+1's,
// against the same 16 activation codes broadcast to both halves. The integer dot product then leaves
// four partial sums per row (lanes 0–3 and 4–7), which one FMA scales by the rows' two scales, so the
// per-block float work (half-precision scales, conversion, scaling) is shared by two rows. Rows run four
// at a time (two registers) for independent chains.

/// Partial sums of u·s (4-bit codes × signed activation bytes) plus u2·s2 in eight int32 lanes. Without
/// VNNI, maddubs's int16 pairs cannot saturate: the sum of two of them is at most 2·2·15·127.
__attribute__((target("avx2,fma,f16c")))
static inline __m256i dot2_avx2(__m256i u, __m256i s, __m256i u2, __m256i s2) {
    return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(u, s), _mm256_maddubs_epi16(u2, s2)), _mm256_set1_epi16(1));
}

__attribute__((target("avx2,fma,f16c,avxvnni")))
static inline __m256i dot2_vnni(__m256i u, __m256i s, __m256i u2, __m256i s2) {
    return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s), u2, s2);
}

__attribute__((target("avx2,fma,f16c")))
static inline __m256i load_pair(const uint8_t *a, const uint8_t *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)), _mm_loadu_si128((const __m128i *)b), 1);
}

__attribute__((target("avx2,fma,f16c")))
static inline uint32_t load_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

__attribute__((target("avx2,fma,f16c")))
static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/// Integer partial sums of one Q4 block for rows a and b (lanes 0–3 row a, 4–7 row b).
#define PK_PAIR_DOT(DOT, FORMAT, BA, BB, A_LO, A_HI)                                                              \
    ({                                                                                                            \
        const long offset = (FORMAT) == PK_QUANT_Q4_1 ? 4 : 2;                                                    \
        const __m256i packed = load_pair((BA) + offset, (BB) + offset), mask = _mm256_set1_epi8(0x0F);            \
        DOT(_mm256_and_si256(packed, mask), (A_LO), _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask), (A_HI)); \
    })

/// Scales of rows a and b for one block: [d_a d_b …] (Q4_0) or [d_a m_a d_b m_b] (Q4_1).
#define PK_PAIR_SCALES(FORMAT, BA, BB)                                                                            \
    ((FORMAT) == PK_QUANT_Q4_1                                                                                    \
         ? _mm_cvtph_ps(_mm_unpacklo_epi32(_mm_cvtsi32_si128((int)load_u32(BA)), _mm_cvtsi32_si128((int)load_u32(BB)))) \
         : _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)load_u16(BA) | (uint32_t)load_u16(BB) << 16))))

// One function per format and dot instruction (the format is a constant inside, so its branches fold).
#define PK_INT8_ROWS(NAME, TARGET, DOT, FORMAT)                                                                   \
    __attribute__((target(TARGET)))                                                                               \
    static void NAME(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,        \
                     long row_bytes, float *C) {                                                                  \
        const long blocks = K / 32, block_bytes = pk_quant_block_bytes(FORMAT);                                   \
        /* Lane of a scale vector that holds row b's scale: 1 for [d_a d_b], 2 for [d_a m_a d_b m_b]. */          \
        const int second = (FORMAT) == PK_QUANT_Q4_1 ? 2 : 1;                                                      \
        const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, second, second, second, second);                    \
        /* Prefetch whole groups about PK_INT8_PREFETCH_BYTES ahead. */                                          \
        const long ahead = ((PK_INT8_PREFETCH_BYTES + 4 * row_bytes - 1) / (4 * row_bytes)) * 4 * row_bytes;       \
        long n = 0;                                                                                               \
        for (; n + 4 <= N; n += 4) {                                                                              \
            const uint8_t *r0 = W + n * row_bytes, *r1 = r0 + row_bytes, *r2 = r1 + row_bytes, *r3 = r2 + row_bytes; \
            __m256 acc01 = _mm256_setzero_ps(), acc23 = _mm256_setzero_ps();                                      \
            __m128 extra01 = _mm_setzero_ps(), extra23 = _mm_setzero_ps();                                        \
            for (long b = 0; b < blocks; b++) {                                                                   \
                const long at = b * block_bytes;                                                                  \
                /* The rows of the group after next (rows are adjacent: 4 rows ahead is 4·row_bytes on). */    \
                _mm_prefetch((const char *)(r0 + at + ahead), _MM_HINT_T0);                                       \
                _mm_prefetch((const char *)(r1 + at + ahead), _MM_HINT_T0);                                       \
                _mm_prefetch((const char *)(r2 + at + ahead), _MM_HINT_T0);                                       \
                _mm_prefetch((const char *)(r3 + at + ahead), _MM_HINT_T0);                                       \
                const __m256i a_lo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qa + 32 * b)));      \
                const __m256i a_hi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(qa + 32 * b + 16))); \
                const __m256i p01 = PK_PAIR_DOT(DOT, FORMAT, r0 + at, r1 + at, a_lo, a_hi);                       \
                const __m256i p23 = PK_PAIR_DOT(DOT, FORMAT, r2 + at, r3 + at, a_lo, a_hi);                       \
                const __m128 s01 = PK_PAIR_SCALES(FORMAT, r0 + at, r1 + at);                                      \
                const __m128 s23 = PK_PAIR_SCALES(FORMAT, r2 + at, r3 + at);                                      \
                const __m256 activation_scale = _mm256_set1_ps(da[b]);                                            \
                acc01 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p01),                                                  \
                                        _mm256_mul_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(s01), spread), activation_scale), acc01); \
                acc23 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p23),                                                  \
                                        _mm256_mul_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(s23), spread), activation_scale), acc23); \
                if ((FORMAT) == PK_QUANT_Q4_1) {                                                                  \
                    /* Minimums (lanes 1 and 3) times the activation sum. */                                      \
                    const __m128 sum = _mm_setr_ps(0.0f, sa[b], 0.0f, sa[b]);                                     \
                    extra01 = _mm_fmadd_ps(s01, sum, extra01);                                                    \
                    extra23 = _mm_fmadd_ps(s23, sum, extra23);                                                    \
                } else if ((FORMAT) == PK_QUANT_Q4_0) {                                                           \
                    /* Codes are offset by 8: scales (lanes 0 and 1) times −8 × the activation sum. */            \
                    const __m128 sum = _mm_set1_ps(-8.0f * sa[b]);                                                \
                    extra01 = _mm_fmadd_ps(s01, sum, extra01);                                                    \
                    extra23 = _mm_fmadd_ps(s23, sum, extra23);                                                    \
                }                                                                                                 \
            }                                                                                                     \
            const __m256 accs[2] = {acc01, acc23};                                                                \
            const __m128 extras[2] = {extra01, extra23};                                                          \
            for (int pair = 0; pair < 2; pair++) {                                                                \
                float lanes[8], extra[4];                                                                         \
                _mm256_storeu_ps(lanes, accs[pair]);                                                              \
                _mm_storeu_ps(extra, extras[pair]);                                                               \
                C[n + 2 * pair] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + extra[(FORMAT) == PK_QUANT_Q4_1 ? 1 : 0]; \
                C[n + 2 * pair + 1] = ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7])) + extra[(FORMAT) == PK_QUANT_Q4_1 ? 3 : 1]; \
            }                                                                                                     \
        }                                                                                                         \
        for (; n < N; n++) C[n] = dot_row_portable(FORMAT, W + n * row_bytes, qa, da, sa, blocks);               \
    }

PK_INT8_ROWS(q4_0_rows_avx2, "avx2,fma,f16c", dot2_avx2, PK_QUANT_Q4_0)
PK_INT8_ROWS(q4_1_rows_avx2, "avx2,fma,f16c", dot2_avx2, PK_QUANT_Q4_1)
PK_INT8_ROWS(q4_0_rows_vnni, "avx2,fma,f16c,avxvnni", dot2_vnni, PK_QUANT_Q4_0)
PK_INT8_ROWS(q4_1_rows_vnni, "avx2,fma,f16c,avxvnni", dot2_vnni, PK_QUANT_Q4_1)

// K-quants, one weight row at a time (a super-block's scales are decoded once for its 256 values).
// The integer dot products are exact; each sub-block's sum is scaled by one FMA into a float vector.

/// Four int32 lanes per 16 bytes: Σ of u·s over each run of four bytes (u unsigned ≤ 63, s signed).
__attribute__((target("avx2,fma,f16c")))
static inline __m256i dot4_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

__attribute__((target("avx2,fma,f16c,avxvnni")))
static inline __m256i dot4_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
}

#define PK_Q4_K_ROWS(NAME, TARGET, DOT)                                                                          \
    __attribute__((target(TARGET)))                                                                               \
    static void NAME(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,        \
                     long row_bytes, float *C) {                                                                  \
        const long supers = K / 256;                                                                              \
        const __m256i mask = _mm256_set1_epi8(0x0F);                                                              \
        for (long n = 0; n < N; n++) {                                                                            \
            const uint8_t *row = W + n * row_bytes;                                                               \
            __m256 acc = _mm256_setzero_ps();                                                                     \
            float minimums = 0.0f;                                                                                \
            for (long b = 0; b < supers; b++) {                                                                   \
                const uint8_t *block = row + b * 144;                                                             \
                _mm_prefetch((const char *)(block + PK_INT8_PREFETCH_BYTES), _MM_HINT_T0);                        \
                _mm_prefetch((const char *)(block + PK_INT8_PREFETCH_BYTES + 64), _MM_HINT_T0);                   \
                _mm_prefetch((const char *)(block + PK_INT8_PREFETCH_BYTES + 128), _MM_HINT_T0);                  \
                const float dw = pk_load_half_f16c(block), dmin = pk_load_half_f16c(block + 2);                  \
                for (int pair = 0; pair < 4; pair++) {                                                            \
                    const long j = 8 * b + 2 * pair;                                                              \
                    int sc1, m1, sc2, m2;                                                                         \
                    pk_q4_k_scale_min(block + 4, 2 * pair, &sc1, &m1);                                         \
                    pk_q4_k_scale_min(block + 4, 2 * pair + 1, &sc2, &m2);                                     \
                    const __m256i packed = _mm256_loadu_si256((const __m256i *)(block + 16 + 32 * pair));         \
                    const __m256i p1 = DOT(_mm256_and_si256(packed, mask), _mm256_loadu_si256((const __m256i *)(qa + 32 * j))); \
                    const __m256i p2 = DOT(_mm256_and_si256(_mm256_srli_epi16(packed, 4), mask),                  \
                                           _mm256_loadu_si256((const __m256i *)(qa + 32 * j + 32)));              \
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_set1_ps(dw * (float)sc1 * da[j]), acc);  \
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p2), _mm256_set1_ps(dw * (float)sc2 * da[j + 1]), acc); \
                    minimums += dmin * ((float)m1 * sa[j] + (float)m2 * sa[j + 1]);                              \
                }                                                                                                 \
            }                                                                                                     \
            C[n] = sum8(acc) - minimums;                                                                          \
        }                                                                                                         \
    }

#define PK_Q6_K_ROWS(NAME, TARGET, DOT)                                                                          \
    __attribute__((target(TARGET)))                                                                               \
    static void NAME(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,        \
                     long row_bytes, float *C) {                                                                  \
        (void)sa;                                                                                                 \
        const long supers = K / 256;                                                                              \
        const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(0x03), offset = _mm256_set1_epi8(32); \
        for (long n = 0; n < N; n++) {                                                                            \
            const uint8_t *row = W + n * row_bytes;                                                               \
            __m256 acc = _mm256_setzero_ps();                                                                     \
            for (long b = 0; b < supers; b++) {                                                                   \
                const uint8_t *block = row + b * 210;                                                             \
                for (int ahead = 0; ahead < 4; ahead++)                                                           \
                    _mm_prefetch((const char *)(block + PK_INT8_PREFETCH_BYTES + 64 * ahead), _MM_HINT_T0);       \
                const float dw = pk_load_half_f16c(block + 208);                                                  \
                for (int half = 0; half < 2; half++) {                                                            \
                    const uint8_t *ql = block + 64 * half, *qh = block + 128 + 32 * half;                         \
                    const int8_t *sc = (const int8_t *)(block + 192) + 8 * half;                                  \
                    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);                                   \
                    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));                            \
                    const __m256i h = _mm256_loadu_si256((const __m256i *)qh);                                    \
                    /* Codes 0…63: a nibble and two high bits (values < 16 shift left by 4 within their byte). */ \
                    __m256i codes[4];                                                                             \
                    codes[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(h, low2), 4)); \
                    codes[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),                                        \
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), low2), 4)); \
                    codes[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),                  \
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), low2), 4)); \
                    codes[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),                  \
                                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), low2), 4)); \
                    for (int group = 0; group < 4; group++) {                                                     \
                        const long j = 8 * b + 4 * half + group;                                                  \
                        const __m256i a = _mm256_loadu_si256((const __m256i *)(qa + 32 * j));                     \
                        /* Σ (q − 32)·a per four values: lanes 0–3 the first 16 values, 4–7 the next 16. */      \
                        const __m256i p = _mm256_sub_epi32(DOT(codes[group], a), DOT(offset, a));                 \
                        const float scale = dw * da[j];                                                           \
                        const __m256 scales = _mm256_setr_ps(scale * sc[2 * group], scale * sc[2 * group], scale * sc[2 * group], \
                                                             scale * sc[2 * group], scale * sc[2 * group + 1], scale * sc[2 * group + 1], \
                                                             scale * sc[2 * group + 1], scale * sc[2 * group + 1]); \
                        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), scales, acc);                                \
                    }                                                                                             \
                }                                                                                                 \
            }                                                                                                     \
            C[n] = sum8(acc);                                                                                     \
        }                                                                                                         \
    }

/// 32 bits as 32 bytes: 0x10 where the bit is set (Q5's fifth bit), 0 elsewhere.
__attribute__((target("avx2,fma,f16c")))
static inline __m256i fifth_bits_avx2(uint32_t bits) {
    const __m256i spread = _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
    const __m256i select = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), spread);  // byte i: bits' byte i/8
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, select), select), _mm256_set1_epi8(0x10));
}

#define PK_Q5_ROWS(NAME, TARGET, DOT, WITH_MINIMUM)                                                               \
    __attribute__((target(TARGET)))                                                                               \
    static void NAME(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,        \
                     long row_bytes, float *C) {                                                                  \
        const long blocks = K / 32, block_bytes = (WITH_MINIMUM) ? 24 : 22;                                       \
        const __m128i mask = _mm_set1_epi8(0x0F);                                                                 \
        for (long n = 0; n < N; n++) {                                                                            \
            const uint8_t *row = W + n * row_bytes;                                                               \
            __m256 acc = _mm256_setzero_ps();                                                                     \
            float extra = 0.0f;                                                                                   \
            for (long b = 0; b < blocks; b++) {                                                                   \
                const uint8_t *block = row + b * block_bytes, *high = block + ((WITH_MINIMUM) ? 4 : 2);          \
                _mm_prefetch((const char *)(block + PK_INT8_PREFETCH_BYTES), _MM_HINT_T0);                        \
                const __m128i nibbles = _mm_loadu_si128((const __m128i *)(high + 4));                             \
                const __m256i low = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(nibbles, mask)), \
                                                            _mm_and_si128(_mm_srli_epi16(nibbles, 4), mask), 1);   \
                const __m256i codes = _mm256_or_si256(low, fifth_bits_avx2(load_u32(high)));                     \
                const __m256i p = DOT(codes, _mm256_loadu_si256((const __m256i *)(qa + 32 * b)));                 \
                const float dw = pk_load_half_f16c(block);                                                        \
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * da[b]), acc);                    \
                extra += (WITH_MINIMUM) ? pk_load_half_f16c(block + 2) * sa[b] : -16.0f * dw * sa[b];             \
            }                                                                                                     \
            C[n] = sum8(acc) + extra;                                                                             \
        }                                                                                                         \
    }

PK_Q5_ROWS(q5_0_rows_avx2, "avx2,fma,f16c", dot4_avx2, 0)
PK_Q5_ROWS(q5_1_rows_avx2, "avx2,fma,f16c", dot4_avx2, 1)
PK_Q5_ROWS(q5_0_rows_vnni, "avx2,fma,f16c,avxvnni", dot4_vnni, 0)
PK_Q5_ROWS(q5_1_rows_vnni, "avx2,fma,f16c,avxvnni", dot4_vnni, 1)
PK_Q4_K_ROWS(q4_k_rows_avx2, "avx2,fma,f16c", dot4_avx2)
PK_Q4_K_ROWS(q4_k_rows_vnni, "avx2,fma,f16c,avxvnni", dot4_vnni)
PK_Q6_K_ROWS(q6_k_rows_avx2, "avx2,fma,f16c", dot4_avx2)
PK_Q6_K_ROWS(q6_k_rows_vnni, "avx2,fma,f16c,avxvnni", dot4_vnni)

typedef void (*int8_rows_kernel)(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,
                                 long row_bytes, float *C);
#endif

int pk_cpu_has_avx_vnni(void) {
#if defined(__x86_64__)
    if (!pk_cpu_has_avx2_fma()) return 0;
    unsigned int eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(1));
    return (eax >> 4) & 1;  // CPUID.(EAX=7,ECX=1):EAX[4] = AVX-VNNI
#else
    return 0;
#endif
}

int pk_integer_activation_bits(pk_quant_format format) {
    switch (format) {
    case PK_QUANT_Q8_0: return 16;
    case PK_QUANT_Q4_0: case PK_QUANT_Q4_1: case PK_QUANT_Q5_0: case PK_QUANT_Q5_1: case PK_QUANT_Q4_K: case PK_QUANT_Q6_K: return 8;
    default: return 0;
    }
}

int pk_quantize_activations(pk_gemm_kernel kernel, int bits, const float *A, long M, long K, long lda, void *codes,
                            float *scales, float *sums) {
    if (K % 32 != 0 || (bits != 8 && bits != 16)) return -1;
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(pk_sgemm_resolve(kernel))) {
        quantize_activations_avx2(bits, A, M, K, lda, codes, scales, sums);
        return 0;
    }
#endif
    quantize_activations_portable(bits, A, M, K, lda, codes, scales, sums);
    return 0;
}

int pk_gemm_quantized_integer(pk_gemm_kernel kernel, pk_quant_format format, long M, long N, long K, const void *codes,
                              const float *scales, const float *sums, const void *W, long row_bytes, long row0, float *C, long ldc) {
    const int bits = pk_integer_activation_bits(format);
    if (bits == 0 || K % 32 != 0) return -1;
    if (M <= 0 || N <= 0) return 0;
    const uint8_t *matrix = (const uint8_t *)W + row0 * row_bytes;
    const long blocks = K / 32;
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(pk_sgemm_resolve(kernel))) {
        // cpuid traps to the hypervisor on virtual machines: ask once.
        static _Atomic int vnni = -1;
        int has = atomic_load_explicit(&vnni, memory_order_relaxed);
        if (has < 0) {
            has = pk_cpu_has_avx_vnni();
            atomic_store_explicit(&vnni, has, memory_order_relaxed);
        }
        // Weight rows in tiles that stay in cache while every activation row passes over them (one
        // read of W for all M rows). Tiles are whole groups of four weight rows, so each output is
        // computed exactly as in a call for its row alone.
        const long tile = M == 1 ? N : 32;
        for (long n0 = 0; n0 < N; n0 += tile) {
            const long width = N - n0 < tile ? N - n0 : tile;
            const uint8_t *part = matrix + n0 * row_bytes;
            for (long m = 0; m < M; m++) {
                if (format == PK_QUANT_Q8_0) {
                    q8_0_rows_int16_avx2(width, K, (const int16_t *)codes + m * K, scales + m * blocks, part, row_bytes, C + m * ldc + n0);
                } else {
                    const int8_rows_kernel rows = format == PK_QUANT_Q4_0   ? (has ? q4_0_rows_vnni : q4_0_rows_avx2)
                                                  : format == PK_QUANT_Q4_1 ? (has ? q4_1_rows_vnni : q4_1_rows_avx2)
                                                  : format == PK_QUANT_Q5_0 ? (has ? q5_0_rows_vnni : q5_0_rows_avx2)
                                                  : format == PK_QUANT_Q5_1 ? (has ? q5_1_rows_vnni : q5_1_rows_avx2)
                                                  : format == PK_QUANT_Q4_K ? (has ? q4_k_rows_vnni : q4_k_rows_avx2)
                                                                            : (has ? q6_k_rows_vnni : q6_k_rows_avx2);
                    rows(width, K, (const int8_t *)codes + m * K, scales + m * blocks, sums + m * blocks, part, row_bytes, C + m * ldc + n0);
                }
            }
        }
        return 0;
    }
#endif
    for (long m = 0; m < M; m++) {
        for (long n = 0; n < N; n++) {
            const uint8_t *row = matrix + n * row_bytes;
            const int8_t *activations = (const int8_t *)codes + m * K;
            C[m * ldc + n] = format == PK_QUANT_Q8_0 ? dot_row_q8_0_portable(row, (const int16_t *)codes + m * K, scales + m * blocks, blocks)
                             : format == PK_QUANT_Q4_K ? dot_row_q4_k_portable(row, activations, scales + m * blocks, sums + m * blocks, blocks)
                             : format == PK_QUANT_Q6_K ? dot_row_q6_k_portable(row, activations, scales + m * blocks, blocks)
                             : format == PK_QUANT_Q5_0 || format == PK_QUANT_Q5_1
                                 ? dot_row_q5_portable(format == PK_QUANT_Q5_1, row, activations, scales + m * blocks, sums + m * blocks, blocks)
                             : dot_row_portable(format, row, activations, scales + m * blocks, sums + m * blocks, blocks);
        }
    }
    return 0;
}
