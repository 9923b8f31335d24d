// Decode-sized products (a few rows of activations against a block-quantized weight matrix) with the
// activations quantized to int8 as well, the way llama.cpp's CPU backend decodes: per block of 32,
// the integer dot product of the weight codes with the activation codes, scaled once by both scales.
// Every multiply-add of a block is one integer instruction lane instead of a dequantized float FMA,
// so a token's products cost a fraction of the exact path. The result differs from the exact product
// by the activations' 8-bit rounding (relative error about 2⁻⁸ per block), which is why callers opt in.
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "CKernels.h"
#include "sgemm_internal.h"

static void quantize_activations_portable(const float *A, long M, long K, long lda, int8_t *codes, float *scales, float *sums) {
    for (long m = 0; m < M; m++) {
        const float *x = A + m * lda;
        for (long b = 0; b < K / 32; b++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fabsf(x[32 * b + j]) > amax ? fabsf(x[32 * b + j]) : amax;
            const float d = amax / 127.0f, inverse = d != 0.0f ? 1.0f / d : 0.0f;
            int sum = 0;
            int8_t *q = codes + m * K + 32 * b;
            for (int j = 0; j < 32; j++) {
                // Nearest, ties to even (the vector path's rounding); |x·inverse| ≤ 127.
                const int value = (int)nearbyintf(x[32 * b + j] * inverse);
                q[j] = (int8_t)value;
                sum += value;
            }
            scales[m * (K / 32) + b] = d;
            sums[m * (K / 32) + b] = d * (float)sum;
        }
    }
}

static float half_value(const uint8_t *p) {
    const uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else {
        exponent = 113;
        while ((mantissa & 0x400) == 0) { mantissa <<= 1; exponent--; }
        bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/// One weight row against one activation row, in plain C (any CPU).
static float dot_row_portable(pk_quant_format format, const uint8_t *row, const int8_t *q, const float *d, const float *s, long blocks) {
    const long block_bytes = pk_quant_block_bytes(format);
    float total = 0.0f;
    for (long b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * block_bytes;
        const int8_t *a = q + 32 * b;
        const float dw = half_value(block);
        int dot = 0;
        if (format == PK_QUANT_Q8_0) {
            for (int j = 0; j < 32; j++) dot += (int)(int8_t)block[2 + j] * a[j];
            total += dw * d[b] * (float)dot;
        } else {
            const uint8_t *codes = block + (format == PK_QUANT_Q4_1 ? 4 : 2);
            for (int j = 0; j < 16; j++) dot += (int)(codes[j] & 0xF) * a[j] + (int)(codes[j] >> 4) * a[j + 16];
            total += dw * d[b] * (float)dot;
            // Q4_0 codes are offset by 8; Q4_1 adds its minimum to every value.
            total += format == PK_QUANT_Q4_1 ? half_value(block + 2) * s[b] : -8.0f * dw * s[b];
        }
    }
    return total;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline float half_f16c(const uint8_t *p) {
    uint16_t bits;
    memcpy(&bits, p, sizeof bits);
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits)));
}

__attribute__((target("avx2,fma,f16c")))
static inline float sum8(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma,f16c")))
static void quantize_activations_avx2(const float *A, long M, long K, long lda, int8_t *codes, float *scales, float *sums) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (long m = 0; m < M; m++) {
        const float *x = A + m * lda;
        for (long b = 0; b < K / 32; b++) {
            __m256 v[4];
            for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(x + 32 * b + 8 * i);
            __m256 amax = _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                                        _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
            __m128 h = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
            h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
            const float d = _mm_cvtss_f32(h) / 127.0f, inverse = d != 0.0f ? 1.0f / d : 0.0f;
            const __m256 scale = _mm256_set1_ps(inverse);
            __m256i q[4];
            for (int i = 0; i < 4; i++) q[i] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[i], scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i total = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
            t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
            // int32 → int16 → int8 keeps the order after fixing the lane interleave of the packs.
            const __m256i words = _mm256_packs_epi32(q[0], q[1]), words2 = _mm256_packs_epi32(q[2], q[3]);
            __m256i bytes = _mm256_packs_epi16(words, words2);
            bytes = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256((__m256i *)(codes + m * K + 32 * b), bytes);
            scales[m * (K / 32) + b] = d;
            sums[m * (K / 32) + b] = d * (float)_mm_cvtsi128_si32(t);
        }
    }
}

// Two weight rows share one register: its low 128 bits hold row r's codes, its high 128 bits row r+1's,
// against the same 16 activation codes broadcast to both halves. The integer dot product then leaves
// four partial sums per row (lanes 0–3 and 4–7), which one FMA scales by the rows' two scales, so the
// per-block float work (half-precision scales, conversion, scaling) is shared by two rows. Rows run four
// at a time (two registers) for independent chains.

/// Partial sums of u·s (unsigned × signed bytes) plus u2·s2 in eight int32 lanes. Without VNNI,
/// maddubs never saturates here: |pair| ≤ 2·128·127, and the two int16 sums of 4-bit codes ≤ 2·2·15·127.
__attribute__((target("avx2,fma,f16c")))
static inline __m256i dot2_avx2(__m256i u, __m256i s, __m256i u2, __m256i s2, int small_codes) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (small_codes) return _mm256_madd_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(u, s), _mm256_maddubs_epi16(u2, s2)), ones);
    return _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), ones), _mm256_madd_epi16(_mm256_maddubs_epi16(u2, s2), ones));
}

__attribute__((target("avx2,fma,f16c,avxvnni")))
static inline __m256i dot2_vnni(__m256i u, __m256i s, __m256i u2, __m256i s2, int small_codes) {
    (void)small_codes;
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

/// Integer partial sums of one block for rows a and b (lanes 0–3 row a, 4–7 row b).
#define PK_PAIR_DOT(DOT, FORMAT, BA, BB, A_LO, A_HI)                                                              \
    ((FORMAT) == PK_QUANT_Q8_0                                                                                    \
         ? ({                                                                                                     \
               const __m256i w_lo = load_pair((BA) + 2, (BB) + 2), w_hi = load_pair((BA) + 18, (BB) + 18);       \
               DOT(_mm256_abs_epi8(w_lo), _mm256_sign_epi8((A_LO), w_lo), _mm256_abs_epi8(w_hi),                  \
                   _mm256_sign_epi8((A_HI), w_hi), 0);                                                            \
           })                                                                                                     \
         : ({                                                                                                     \
               const long offset = (FORMAT) == PK_QUANT_Q4_1 ? 4 : 2;                                             \
               const __m256i packed = load_pair((BA) + offset, (BB) + offset), mask = _mm256_set1_epi8(0x0F);     \
               DOT(_mm256_and_si256(packed, mask), (A_LO), _mm256_and_si256(_mm256_srli_epi16(packed, 4), mask),  \
                   (A_HI), 1);                                                                                    \
           }))

/// Scales of rows a and b for one block: [d_a d_b …] (Q8_0, Q4_0) or [d_a m_a d_b m_b] (Q4_1).
#define PK_PAIR_SCALES(FORMAT, BA, BB)                                                                            \
    ((FORMAT) == PK_QUANT_Q4_1                                                                                    \
         ? _mm_cvtph_ps(_mm_unpacklo_epi32(_mm_cvtsi32_si128((int)load_u32(BA)), _mm_cvtsi32_si128((int)load_u32(BB)))) \
         : _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)load_u16(BA) | (uint32_t)load_u16(BB) << 16))))

#ifndef PK_INT8_PREFETCH_BYTES
#define PK_INT8_PREFETCH_BYTES 8192
#endif

// One function per format and dot instruction (the format is a constant inside, so its branches fold).
#define PK_INT8_ROWS(NAME, TARGET, DOT, FORMAT)                                                                   \
    __attribute__((target(TARGET)))                                                                               \
    static void NAME(long N, long K, const int8_t *qa, const float *da, const float *sa, const uint8_t *W,        \
                     long row_bytes, float *C) {                                                                  \
        const long blocks = K / 32, block_bytes = pk_quant_block_bytes(FORMAT);                                   \
        /* Lane of a scale vector that holds row b's scale: 1 for [d_a d_b], 2 for [d_a m_a d_b m_b]. */          \
        const int second = (FORMAT) == PK_QUANT_Q4_1 ? 2 : 1;                                                      \
        const __m256i spread = _mm256_setr_epi32(0, 0, 0, 0, second, second, second, second);                    \
        /* Prefetch whole groups about PK_INT8_PREFETCH_BYTES ahead (the hardware prefetcher alone leaves  \
           the loop waiting on memory at half the bandwidth). */                                               \
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

PK_INT8_ROWS(q8_0_rows_avx2, "avx2,fma,f16c", dot2_avx2, PK_QUANT_Q8_0)
PK_INT8_ROWS(q4_0_rows_avx2, "avx2,fma,f16c", dot2_avx2, PK_QUANT_Q4_0)
PK_INT8_ROWS(q4_1_rows_avx2, "avx2,fma,f16c", dot2_avx2, PK_QUANT_Q4_1)
PK_INT8_ROWS(q8_0_rows_vnni, "avx2,fma,f16c,avxvnni", dot2_vnni, PK_QUANT_Q8_0)
PK_INT8_ROWS(q4_0_rows_vnni, "avx2,fma,f16c,avxvnni", dot2_vnni, PK_QUANT_Q4_0)
PK_INT8_ROWS(q4_1_rows_vnni, "avx2,fma,f16c,avxvnni", dot2_vnni, PK_QUANT_Q4_1)

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

int pk_quantize_activations_int8(pk_gemm_kernel kernel, const float *A, long M, long K, long lda, int8_t *codes,
                                 float *scales, float *sums) {
    if (K % 32 != 0) return -1;
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(pk_sgemm_resolve(kernel))) {
        quantize_activations_avx2(A, M, K, lda, codes, scales, sums);
        return 0;
    }
#endif
    quantize_activations_portable(A, M, K, lda, codes, scales, sums);
    return 0;
}

int pk_gemm_quantized_int8(pk_gemm_kernel kernel, pk_quant_format format, long M, long N, long K, const int8_t *codes,
                           const float *scales, const float *sums, const void *W, long row_bytes, long row0, float *C, long ldc) {
    if (format != PK_QUANT_Q8_0 && format != PK_QUANT_Q4_0 && format != PK_QUANT_Q4_1) return -1;
    if (K % 32 != 0) return -1;
    if (M <= 0 || N <= 0) return 0;
    const uint8_t *matrix = W;
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(pk_sgemm_resolve(kernel))) {
        // cpuid traps to the hypervisor on virtual machines: ask once.
        static _Atomic int vnni = -1;
        int has = atomic_load_explicit(&vnni, memory_order_relaxed);
        if (has < 0) {
            has = pk_cpu_has_avx_vnni();
            atomic_store_explicit(&vnni, has, memory_order_relaxed);
        }
        const int8_rows_kernel kernel_for_format =
            format == PK_QUANT_Q8_0 ? (has ? q8_0_rows_vnni : q8_0_rows_avx2)
            : format == PK_QUANT_Q4_0 ? (has ? q4_0_rows_vnni : q4_0_rows_avx2) : (has ? q4_1_rows_vnni : q4_1_rows_avx2);
        const long blocks = K / 32;
        for (long m = 0; m < M; m++) {
            kernel_for_format(N, K, codes + m * K, scales + m * blocks, sums + m * blocks, matrix + row0 * row_bytes, row_bytes, C + m * ldc);
        }
        return 0;
    }
#endif
    for (long m = 0; m < M; m++) {
        for (long n = 0; n < N; n++) {
            C[m * ldc + n] = dot_row_portable(format, matrix + (row0 + n) * row_bytes, codes + m * K, scales + m * (K / 32),
                                              sums + m * (K / 32), K / 32);
        }
    }
    return 0;
}
