// GEMM with a block-quantized matrix (GGUF Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q6_K, or QLoRA's NF4) as the right operand, never dequantized
// whole: the blocked driver asks for one B panel at a time and the panel is dequantized straight
// into the packing buffer. The values packed are exactly those of ggml's dequantize_row_* (no fused
// multiply-add in the formulas), so the product equals the float GEMM on the dequantized matrix bit
// for bit, while the matrix occupies 8.5 (Q8_0), 4.5 (Q4_0) or 5 (Q4_1) bits per value.
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "CKernels.h"
#include "sgemm_internal.h"

#pragma STDC FP_CONTRACT OFF

long pk_quant_block_bytes(pk_quant_format format) {
    switch (format) {
    case PK_QUANT_Q8_0: return 34;
    case PK_QUANT_Q4_0: return 18;
    case PK_QUANT_Q4_1: return 20;
    case PK_QUANT_Q5_0: return 22;
    case PK_QUANT_Q5_1: return 24;
    case PK_QUANT_NF4: return 36;
    case PK_QUANT_Q4_K: return 144;
    case PK_QUANT_Q6_K: return 210;
    }
    return 0;
}

long pk_quant_block_values(pk_quant_format format) {
    switch (format) {
    case PK_QUANT_NF4: return 64;
    case PK_QUANT_Q4_K: case PK_QUANT_Q6_K: return 256;
    default: return 32;
    }
}

/// The 16 levels of 4-bit NormalFloat (Dettmers et al., QLoRA, 2023): quantiles of N(0, 1) scaled
/// to [−1, 1], with an exact zero.
static const float nf4_levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

static float load_float(const uint8_t *p) {
    float f;
    memcpy(&f, p, sizeof f);
    return f;
}

/// Value j of an NF4 block: [absmax: float32][32 bytes, value 2i in the low nibble, 2i+1 in the high].
static inline float nf4_value(const uint8_t *block, long j) {
    const uint8_t byte = block[4 + j / 2];
    return nf4_levels[(j & 1) ? byte >> 4 : byte & 0xF] * load_float(block);
}

/// IEEE half → float, exact for every input (subnormals, infinities, NaN payloads).
float pk_half_to_float(uint16_t h) {
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

static float load_half(const uint8_t *p) { return pk_half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

/// The 256 values of a Q4_K super-block: [d: half][dmin: half][12 bytes of 6-bit scales and
/// minimums][128 bytes of 4-bit values]; value = d·scale·q − dmin·minimum per sub-block of 32.
static void dequantize_q4_k(const uint8_t *block, float *out) {
    const float d = load_half(block), dmin = load_half(block + 2);
    const uint8_t *q = block + 16;
    for (int pair = 0; pair < 4; pair++) {
        int sc1, m1, sc2, m2;
        pk_q4_k_scale_min(block + 4, 2 * pair, &sc1, &m1);
        pk_q4_k_scale_min(block + 4, 2 * pair + 1, &sc2, &m2);
        const float d1 = d * (float)sc1, min1 = dmin * (float)m1, d2 = d * (float)sc2, min2 = dmin * (float)m2;
        for (int l = 0; l < 32; l++) out[l] = d1 * (float)(q[l] & 0xF) - min1;
        for (int l = 0; l < 32; l++) out[32 + l] = d2 * (float)(q[l] >> 4) - min2;
        q += 32;
        out += 64;
    }
}

/// The 256 values of a Q6_K super-block: [128 bytes of low 4 bits][64 bytes of high 2 bits]
/// [16 int8 scales][d: half]; value = d·scale·(q − 32) per sub-block of 16.
static void dequantize_q6_k(const uint8_t *block, float *out) {
    const uint8_t *ql = block, *qh = block + 128;
    const int8_t *sc = (const int8_t *)(block + 192);
    const float d = load_half(block + 208);
    for (int half = 0; half < 2; half++) {
        for (int l = 0; l < 32; l++) {
            const int s = l / 16;
            const int q1 = (int)((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
            const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            out[l] = d * (float)sc[s] * (float)q1;
            out[l + 32] = d * (float)sc[s + 2] * (float)q2;
            out[l + 64] = d * (float)sc[s + 4] * (float)q3;
            out[l + 96] = d * (float)sc[s + 6] * (float)q4;
        }
        out += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

/// The 32 values of a Q5_0 or Q5_1 block: [d: half]([m: half])[qh: 32 high bits, little-endian]
/// [16 bytes: value j's low nibble in byte j's low half, value j + 16's in its high half]; value =
/// (q − 16)·d for Q5_0, q·d + m for Q5_1 (ggml's dequantize_row_q5_0/q5_1, no fused multiply-add).
static void dequantize_q5(const uint8_t *block, int with_minimum, float *out) {
    const float d = load_half(block);
    const float m = with_minimum ? load_half(block + 2) : 0.0f;
    const uint8_t *high = block + (with_minimum ? 4 : 2), *qs = high + 4;
    const uint32_t qh = (uint32_t)high[0] | (uint32_t)high[1] << 8 | (uint32_t)high[2] << 16 | (uint32_t)high[3] << 24;
    for (int j = 0; j < 16; j++) {
        const int x0 = (qs[j] & 0xF) | (int)(((qh >> j) << 4) & 0x10);
        const int x1 = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
        if (with_minimum) {
            out[j] = (float)x0 * d + m;
            out[j + 16] = (float)x1 * d + m;
        } else {
            out[j] = (float)(x0 - 16) * d;
            out[j + 16] = (float)(x1 - 16) * d;
        }
    }
}

/// The values of one block (32; NF4 64; K-quants 256).
static void dequantize_block(pk_quant_format format, const uint8_t *block, float *out) {
    switch (format) {
    case PK_QUANT_Q5_0:
        dequantize_q5(block, 0, out);
        break;
    case PK_QUANT_Q5_1:
        dequantize_q5(block, 1, out);
        break;
    case PK_QUANT_Q4_K:
        dequantize_q4_k(block, out);
        break;
    case PK_QUANT_Q6_K:
        dequantize_q6_k(block, out);
        break;
    case PK_QUANT_NF4:
        for (int j = 0; j < 64; j++) out[j] = nf4_value(block, j);
        break;
    case PK_QUANT_Q8_0: {
        const float d = load_half(block);
        for (int j = 0; j < 32; j++) out[j] = d * (float)(int8_t)block[2 + j];
        break;
    }
    case PK_QUANT_Q4_0: {
        const float d = load_half(block);
        for (int j = 0; j < 16; j++) {
            out[j] = (float)((int)(block[2 + j] & 0xF) - 8) * d;
            out[j + 16] = (float)((int)(block[2 + j] >> 4) - 8) * d;
        }
        break;
    }
    case PK_QUANT_Q4_1: {
        const float d = load_half(block), m = load_half(block + 2);
        for (int j = 0; j < 16; j++) {
            out[j] = (float)(block[4 + j] & 0xF) * d + m;
            out[j + 16] = (float)(block[4 + j] >> 4) * d + m;
        }
        break;
    }
    }
}

/// Values [c0, c0+n) of one quantized row.
static void dequantize_range(pk_quant_format format, const uint8_t *row, long c0, long n, float *out) {
    const long block_bytes = pk_quant_block_bytes(format);
    if (format == PK_QUANT_NF4) {
        // Each value stands alone: decode only the ones asked for.
        for (long c = c0; c < c0 + n; c++) *out++ = nf4_value(row + (c / 64) * block_bytes, c % 64);
        return;
    }
    const long size = pk_quant_block_values(format);
    long c = c0;
    const long end = c0 + n;
    while (c < end) {
        const long block = c / size, offset = c % size;
        const long take = (end - c < size - offset) ? end - c : size - offset;
        if (offset == 0 && take == size) {
            dequantize_block(format, row + block * block_bytes, out);
        } else {
            float values[256];
            dequantize_block(format, row + block * block_bytes, values);
            memcpy(out, values + offset, (size_t)take * sizeof(float));
        }
        out += take;
        c += take;
    }
}

void pk_dequantize_rows(pk_quant_format format, const void *matrix, long row_bytes, long row0, long rows,
                        long col0, long cols, float *out, long ldo) {
    const uint8_t *base = matrix;
    for (long r = 0; r < rows; r++) dequantize_range(format, base + (row0 + r) * row_bytes, col0, cols, out + r * ldo);
}

typedef struct {
    pk_quant_format format;
    const uint8_t *matrix;
    long row_bytes;
    long row0, col0;   // the sub-matrix's first row and column
    int transposed;    // op(W) = Wᵀ
} quantized_b_source;

/// Packs op(W)[p0:p0+kc, j0:j0+nc] into NR-wide panels, as pack_b does for floats.
static void pack_quantized_b(const void *context, long p0, long j0, long kc, long nc, float *dst) {
    const quantized_b_source *source = context;
    for (long jp = 0; jp < nc; jp += PK_NR) {
        const long cols = (nc - jp < PK_NR) ? nc - jp : PK_NR;
        if (source->transposed) {
            // op(W)[k][j] = W[j][k]: dequantize kc values of each of the NR rows, then interleave.
            float row[PK_KC];
            for (long j = 0; j < PK_NR; j++) {
                if (j < cols) {
                    const uint8_t *src = source->matrix + (source->row0 + j0 + jp + j) * source->row_bytes;
                    dequantize_range(source->format, src, source->col0 + p0, kc, row);
                    for (long k = 0; k < kc; k++) dst[k * PK_NR + j] = row[k];
                } else {
                    for (long k = 0; k < kc; k++) dst[k * PK_NR + j] = 0.0f;
                }
            }
        } else {
            // op(W)[k][j] = W[k][j]: NR consecutive values of each of the kc rows.
            for (long k = 0; k < kc; k++) {
                const uint8_t *src = source->matrix + (source->row0 + p0 + k) * source->row_bytes;
                dequantize_range(source->format, src, source->col0 + j0 + jp, cols, dst + k * PK_NR);
                for (long j = cols; j < PK_NR; j++) dst[k * PK_NR + j] = 0.0f;
            }
        }
        dst += kc * PK_NR;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/// The 32 values of one block as four vectors (values 0–7, 8–15, 16–23, 24–31), computed with the
/// same operations as `dequantize_block` (a product, then a sum for Q4_1; never a fused one).
__attribute__((target("avx2,fma,f16c")))
static inline void dequantize_block_avx2(pk_quant_format format, const uint8_t *block, __m256 v[4]) {
    const __m256 d = _mm256_set1_ps(pk_load_half_f16c(block));
    if (format == PK_QUANT_Q5_0 || format == PK_QUANT_Q5_1) {
        // Nibbles as in Q4_0/Q4_1 (values 0–15 low, 16–31 high); value i's fifth bit is bit i of qh.
        const int minimum = format == PK_QUANT_Q5_1;
        const uint8_t *high = block + (minimum ? 4 : 2);
        uint32_t qh;
        memcpy(&qh, high, 4);
        const __m128i bytes = _mm_loadu_si128((const __m128i *)(high + 4));
        const __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F));
        const __m128i top = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
        const __m256i nibbles[4] = {_mm256_cvtepu8_epi32(low), _mm256_cvtepu8_epi32(_mm_srli_si128(low, 8)),
                                    _mm256_cvtepu8_epi32(top), _mm256_cvtepu8_epi32(_mm_srli_si128(top, 8))};
        const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), bit = _mm256_set1_epi32(0x10);
        const __m256 m = _mm256_set1_ps(minimum ? pk_load_half_f16c(block + 2) : 0.0f);
        for (int i = 0; i < 4; i++) {
            const __m256i shift = _mm256_add_epi32(lanes, _mm256_set1_epi32(8 * i));
            const __m256i fifth = _mm256_and_si256(_mm256_slli_epi32(_mm256_srlv_epi32(_mm256_set1_epi32((int)qh), shift), 4), bit);
            const __m256i q = _mm256_or_si256(nibbles[i], fifth);
            v[i] = minimum ? _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q), d), m)
                           : _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, _mm256_set1_epi32(16))), d);
        }
        return;
    }
    if (format == PK_QUANT_Q8_0) {
        for (int i = 0; i < 4; i++) {
            const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + 2 + 8 * i)));
            v[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(q));
        }
        return;
    }
    const uint8_t *qs = block + (format == PK_QUANT_Q4_1 ? 4 : 2);
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m128i low = _mm_and_si128(bytes, _mm_set1_epi8(0x0F));
    const __m128i high = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0F));
    __m256i q[4] = {_mm256_cvtepu8_epi32(low), _mm256_cvtepu8_epi32(_mm_srli_si128(low, 8)),
                    _mm256_cvtepu8_epi32(high), _mm256_cvtepu8_epi32(_mm_srli_si128(high, 8))};
    if (format == PK_QUANT_Q4_0) {
        const __m256i eight = _mm256_set1_epi32(8);
        for (int i = 0; i < 4; i++) v[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q[i], eight)), d);
    } else {
        const __m256 m = _mm256_set1_ps(pk_load_half_f16c(block + 2));
        for (int i = 0; i < 4; i++) v[i] = _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(q[i]), d), m);
    }
}

/// The 64 values of one NF4 block as eight vectors (values 0–7, …, 56–63): level × absmax, the
/// product `nf4_value` computes.
__attribute__((target("avx2,fma,f16c")))
static inline void dequantize_nf4_block_avx2(const uint8_t *block, __m256 v[8]) {
    const __m256 absmax = _mm256_set1_ps(load_float(block));
    const __m256 levels_low = _mm256_loadu_ps(nf4_levels), levels_high = _mm256_loadu_ps(nf4_levels + 8);
    const __m256i bytes = _mm256_loadu_si256((const __m256i *)(block + 4));
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const __m256i low = _mm256_and_si256(bytes, mask), high = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
    // Codes in value order: value 2i is byte i's low nibble, 2i+1 its high one.
    const __m256i a = _mm256_unpacklo_epi8(low, high), b = _mm256_unpackhi_epi8(low, high);
    const __m128i groups[4] = {_mm256_castsi256_si128(a), _mm256_castsi256_si128(b),
                               _mm256_extracti128_si256(a, 1), _mm256_extracti128_si256(b, 1)};
    for (int g = 0; g < 4; g++) {
        for (int h = 0; h < 2; h++) {
            const __m256i index = _mm256_cvtepu8_epi32(h == 0 ? groups[g] : _mm_srli_si128(groups[g], 8));
            const __m256 level = _mm256_blendv_ps(_mm256_permutevar8x32_ps(levels_low, index),
                                                  _mm256_permutevar8x32_ps(levels_high, index),
                                                  _mm256_castsi256_ps(_mm256_slli_epi32(index, 28)));
            v[2 * g + h] = _mm256_mul_ps(level, absmax);
        }
    }
}

/// One whole block (32 or 64 values) dequantized into `out`, vectorised.
__attribute__((target("avx2,fma,f16c")))
static inline void dequantize_block_to_avx2(pk_quant_format format, const uint8_t *block, float *out) {
    if (format == PK_QUANT_Q4_K || format == PK_QUANT_Q6_K) {
        dequantize_block(format, block, out);
    } else if (format == PK_QUANT_NF4) {
        __m256 v[8];
        dequantize_nf4_block_avx2(block, v);
        for (int i = 0; i < 8; i++) _mm256_storeu_ps(out + 8 * i, v[i]);
    } else {
        __m256 v[4];
        dequantize_block_avx2(format, block, v);
        for (int i = 0; i < 4; i++) _mm256_storeu_ps(out + 8 * i, v[i]);
    }
}

/// `pack_quantized_b` with whole blocks dequantized in registers. Needs the packed k range
/// (transposed) or column range (not transposed) to start on a block boundary, which the driver's
/// KC and NC blocks and the Swift thread split guarantee; `pack_quantized_b` serves other cases.
__attribute__((target("avx2,fma,f16c")))
static void pack_quantized_b_avx2(const void *context, long p0, long j0, long kc, long nc, float *dst) {
    const quantized_b_source *source = context;
    const long block = pk_quant_block_values(source->format), block_bytes = pk_quant_block_bytes(source->format);
    if (source->transposed) {
        if ((source->col0 + p0) % block != 0 || kc % block != 0) { pack_quantized_b(context, p0, j0, kc, nc, dst); return; }
        // op(W)[k][j] = W[j][k]: eight rows of a block at a time, transposed 8×8 into the panel.
        _Alignas(32) float values[8][256];
        for (long jp = 0; jp < nc; jp += PK_NR) {
            const long cols = (nc - jp < PK_NR) ? nc - jp : PK_NR;
            for (long half = 0; half < PK_NR; half += 8) {
                for (long kb = 0; kb < kc; kb += block) {
                    for (long r = 0; r < 8; r++) {
                        if (half + r < cols) {
                            const uint8_t *row = source->matrix + (source->row0 + j0 + jp + half + r) * source->row_bytes;
                            dequantize_block_to_avx2(source->format, row + ((source->col0 + p0 + kb) / block) * block_bytes, values[r]);
                        } else {
                            memset(values[r], 0, sizeof values[r]);
                        }
                    }
                    for (long sub = 0; sub < block; sub += 8) {
                        __m256 r8[8];
                        for (int r = 0; r < 8; r++) r8[r] = _mm256_load_ps(values[r] + sub);
                        pk_transpose8x8(r8);
                        for (int i = 0; i < 8; i++) _mm256_storeu_ps(dst + (kb + sub + i) * PK_NR + half, r8[i]);
                    }
                }
            }
            dst += kc * PK_NR;
        }
        return;
    }
    if ((source->col0 + j0) % block != 0) { pack_quantized_b(context, p0, j0, kc, nc, dst); return; }
    // op(W)[k][j] = W[k][j]: each row's blocks dequantized once into a row buffer, then copied
    // 16 values per panel.
    _Alignas(32) float row_values[PK_NC + 256];
    const long blocks = (nc + block - 1) / block;
    for (long k = 0; k < kc; k++) {
        const uint8_t *row = source->matrix + (source->row0 + p0 + k) * source->row_bytes + ((source->col0 + j0) / block) * block_bytes;
        for (long b = 0; b < blocks; b++) dequantize_block_to_avx2(source->format, row + b * block_bytes, row_values + b * block);
        for (long jp = 0; jp < nc; jp += PK_NR) {
            float *panel = dst + jp * kc + k * PK_NR;
            if (nc - jp >= PK_NR) {
                _mm256_storeu_ps(panel, _mm256_load_ps(row_values + jp));
                _mm256_storeu_ps(panel + 8, _mm256_load_ps(row_values + jp + 8));
            } else {
                long j = 0;
                for (; j < nc - jp; j++) panel[j] = row_values[jp + j];
                for (; j < PK_NR; j++) panel[j] = 0.0f;
            }
        }
    }
}

/// Decode rows (M ≤ PK_SMALL_M) against whole rows of W, dequantized in registers. The sums run in
/// exactly the order of the float small-M kernel (two accumulators over steps of 16, the same final
/// reduction), so results equal the float path on the dequantized matrix bit for bit.
__attribute__((target("avx2,fma,f16c")))
static void small_m_quantized_avx2(pk_quant_format format, long M, long N, long K, float alpha, const float *A, long lda,
                                   const uint8_t *matrix, long row_bytes, long row0, long col0, float beta, float *C, long ldc) {
    const long block_bytes = pk_quant_block_bytes(format);
    long n = 0;
    if (M == 1) {
        // One decode row: two rows of W at a time, so four independent FMA chains hide the latency
        // (each output keeps its own two chains, in the float kernel's order).
        for (; n + 2 <= N; n += 2) {
            const uint8_t *row_a = matrix + (row0 + n) * row_bytes + (col0 / 32) * block_bytes;
            const uint8_t *row_b = row_a + row_bytes;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
            for (long k = 0; k < K; k += 32) {
                __m256 va[4], vb[4];
                // Stay ahead of the two row streams (the loop is bound by their latency otherwise).
                _mm_prefetch((const char *)(row_a + (k / 32) * block_bytes + 1024), _MM_HINT_T0);
                _mm_prefetch((const char *)(row_b + (k / 32) * block_bytes + 1024), _MM_HINT_T0);
                dequantize_block_avx2(format, row_a + (k / 32) * block_bytes, va);
                dequantize_block_avx2(format, row_b + (k / 32) * block_bytes, vb);
                const float *a = A + k;
                const __m256 x0 = _mm256_loadu_ps(a), x1 = _mm256_loadu_ps(a + 8), x2 = _mm256_loadu_ps(a + 16), x3 = _mm256_loadu_ps(a + 24);
                a0 = _mm256_fmadd_ps(x0, va[0], a0); b0 = _mm256_fmadd_ps(x0, vb[0], b0);
                a1 = _mm256_fmadd_ps(x1, va[1], a1); b1 = _mm256_fmadd_ps(x1, vb[1], b1);
                a0 = _mm256_fmadd_ps(x2, va[2], a0); b0 = _mm256_fmadd_ps(x2, vb[2], b0);
                a1 = _mm256_fmadd_ps(x3, va[3], a1); b1 = _mm256_fmadd_ps(x3, vb[3], b1);
            }
            const __m256 sums[2] = {_mm256_add_ps(a0, a1), _mm256_add_ps(b0, b1)};
            for (int r = 0; r < 2; r++) {
                __m128 h = _mm_add_ps(_mm256_castps256_ps128(sums[r]), _mm256_extractf128_ps(sums[r], 1));
                h = _mm_add_ps(h, _mm_movehl_ps(h, h));
                h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
                float *c = C + n + r;
                *c = alpha * _mm_cvtss_f32(h) + (beta == 0.0f ? 0.0f : beta * *c);
            }
        }
    }
    for (; n < N; n++) {
        const uint8_t *row = matrix + (row0 + n) * row_bytes + (col0 / 32) * block_bytes;
        __m256 s0[PK_SMALL_M], s1[PK_SMALL_M];
        for (long m = 0; m < M; m++) { s0[m] = _mm256_setzero_ps(); s1[m] = _mm256_setzero_ps(); }
        for (long k = 0; k < K; k += 32) {
            __m256 v[4];
            dequantize_block_avx2(format, row + (k / 32) * block_bytes, v);
            for (long m = 0; m < M; m++) {
                const float *a = A + m * lda + k;
                s0[m] = _mm256_fmadd_ps(_mm256_loadu_ps(a), v[0], s0[m]);
                s1[m] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 8), v[1], s1[m]);
                s0[m] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 16), v[2], s0[m]);
                s1[m] = _mm256_fmadd_ps(_mm256_loadu_ps(a + 24), v[3], s1[m]);
            }
        }
        for (long m = 0; m < M; m++) {
            __m256 s = _mm256_add_ps(s0[m], s1[m]);
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
            float *c = C + m * ldc + n;
            *c = alpha * _mm_cvtss_f32(h) + (beta == 0.0f ? 0.0f : beta * *c);
        }
    }
}
#endif

/// The packer of op(W) from `source` for the kernel `active` (SIMD panels when it uses AVX2).
static pk_b_packer quantized_packer(pk_gemm_kernel active, const quantized_b_source *source) {
#if defined(__x86_64__) || defined(__i386__)
    if (pk_kernel_uses_avx2(active)) return (pk_b_packer){pack_quantized_b_avx2, source};
#endif
    (void)active;
    return (pk_b_packer){pack_quantized_b, source};
}

int pk_sgemm_quantized(pk_gemm_kernel requested, int transW, long M, long N, long K, float alpha,
                       const float *A, long lda, pk_quant_format format, const void *W, long row_bytes,
                       long row0, long col0, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return 0;
    const pk_gemm_kernel active = pk_sgemm_resolve(requested);
    if (K <= 0 || alpha == 0.0f) {
        // Nothing to multiply: C = beta·C, as pk_sgemm does.
        pk_sgemm_with_kernel(active, 0, 0, M, N, 0, alpha, A, lda, A, 1, beta, C, ldc);
        return 0;
    }
    const uint8_t *matrix = W;
#if defined(__x86_64__) || defined(__i386__)
    if (M <= PK_SMALL_M && transW && pk_kernel_uses_avx2(active) && pk_quant_block_values(format) == 32 && col0 % 32 == 0 && K % 32 == 0) {
        small_m_quantized_avx2(format, M, N, K, alpha, A, lda, matrix, row_bytes, row0, col0, beta, C, ldc);
        return 0;
    }
#endif
    if (M <= PK_SMALL_M && transW) {
        // Decoding: each output is a dot product with one row of W, dequantized into a row buffer
        // and handed to the float path (the same arithmetic as on the dequantized matrix).
        float *row = malloc((size_t)K * sizeof(float));
        if (row == NULL) return -1;
        for (long n = 0; n < N; n++) {
            dequantize_range(format, matrix + (row0 + n) * row_bytes, col0, K, row);
            pk_sgemm_small_m(active, M, 1, K, alpha, A, lda, row, K, beta, C + n, ldc);
        }
        free(row);
        return 0;
    }
    float *buffer = pk_sgemm_thread_buffer();
    if (buffer == NULL) return -1;
    const quantized_b_source source = {format, matrix, row_bytes, row0, col0, transW};
    const pk_b_packer packer = quantized_packer(active, &source);
    pk_sgemm_blocked(active, buffer, 0, M, N, K, alpha, A, lda, &packer, beta, C, ldc);
    return 0;
}

int pk_sgemm_quantized_threaded(pk_gemm_kernel requested, pk_gemm_precision precision, int threads, int transW, long M,
                                long N, long K, float alpha, const float *A, long lda, pk_quant_format format,
                                const void *W, long row_bytes, long row0, long col0, float beta, float *C, long ldc) {
    const pk_reduced_arithmetic *reduced = pk_reduced_arithmetic_for(precision, pk_sgemm_resolve(requested));
    if ((threads <= 1 && reduced == NULL) || M <= PK_SMALL_M || N <= 0 || K <= 0 || alpha == 0.0f) {
        return pk_sgemm_quantized(requested, transW, M, N, K, alpha, A, lda, format, W, row_bytes, row0, col0,
                                  beta, C, ldc);
    }
    const pk_gemm_kernel active = pk_sgemm_resolve(requested);
    const quantized_b_source source = {format, W, row_bytes, row0, col0, transW};
    const pk_b_packer packer = quantized_packer(active, &source);
    // Threads pack whole blocks of a row of W (64 or 256 values) when W's rows run along op(W)'s columns.
    const long block = pk_quant_block_values(format);
    const long granule = transW ? PK_NR : (block % PK_NR == 0 ? block : block * PK_NR);
    return pk_sgemm_shared_b(active, threads < 1 ? 1 : threads, reduced, 0, M, N, K, alpha, A, lda, &packer, granule, beta, C, ldc);
}

/// float → IEEE half, rounding to nearest even (as ggml's GGML_FP32_TO_FP16 on x86 F16C).
static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000;
    const uint32_t abs = x & 0x7FFFFFFF;
    if (abs >= 0x7F800000) return (uint16_t)(sign | 0x7C00 | (abs > 0x7F800000 ? 0x200 : 0));  // inf / NaN
    if (abs >= 0x477FF000) return (uint16_t)(sign | 0x7C00);                                     // overflow → inf
    if (abs < 0x38800000) {                                                                        // subnormal or zero
        if (abs < 0x33000000) return (uint16_t)sign;
        const uint32_t shift = 113 - (abs >> 23);
        const uint32_t mantissa = (abs & 0x7FFFFF) | 0x800000;
        uint32_t half = mantissa >> (shift + 13);
        const uint32_t rest = mantissa & ((1u << (shift + 13)) - 1), halfway = 1u << (shift + 12);
        if (rest > halfway || (rest == halfway && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((abs - 0x38000000) >> 13);
    const uint32_t rest = abs & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (half & 1))) half++;
    return (uint16_t)(sign | half);
}

static void store_half(uint8_t *p, float f) {
    const uint16_t h = float_to_half(f);
    p[0] = (uint8_t)(h & 0xFF);
    p[1] = (uint8_t)(h >> 8);
}

/// QLoRA's NF4 quantizer: absmax per block of 64, each value the nearest level of x / absmax.
static void quantize_nf4_block(const float *v, uint8_t *dst) {
    float amax = 0.0f;
    for (int j = 0; j < 64; j++) amax = fabsf(v[j]) > amax ? fabsf(v[j]) : amax;
    memcpy(dst, &amax, sizeof amax);
    const float inverse = amax != 0.0f ? 1.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++) {
        uint8_t codes[2];
        for (int h = 0; h < 2; h++) {
            const float x = v[2 * j + h] * inverse;
            int best = 7;
            float error = fabsf(x);
            for (int level = 0; level < 16; level++) {
                const float e = fabsf(x - nf4_levels[level]);
                if (e < error) { error = e; best = level; }
            }
            codes[h] = (uint8_t)best;
        }
        dst[4 + j] = (uint8_t)(codes[0] | (codes[1] << 4));
    }
}

int pk_quantize_rows(pk_quant_format format, const float *x, long rows, long cols, void *out) {
    if (format == PK_QUANT_NF4) {
        if (cols % 64 != 0) return -1;
        for (long b = 0; b < rows * (cols / 64); b++) quantize_nf4_block(x + b * 64, (uint8_t *)out + b * 36);
        return 0;
    }
    if (cols % 32 != 0 || (format != PK_QUANT_Q8_0 && format != PK_QUANT_Q4_1)) return -1;
    uint8_t *dst = out;
    const long blocks = rows * (cols / 32);
    for (long b = 0; b < blocks; b++) {
        const float *v = x + b * 32;
        if (format == PK_QUANT_Q8_0) {
            // ggml's quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d).
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fabsf(v[j]) > amax ? fabsf(v[j]) : amax;
            const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            store_half(dst, d);
            for (int j = 0; j < 32; j++) dst[2 + j] = (uint8_t)(int8_t)roundf(v[j] * id);
            dst += 34;
        } else {
            // ggml's quantize_row_q4_1_ref: m = min, d = (max - min) / 15, q = (x - m) / d rounded.
            float lo = v[0], hi = v[0];
            for (int j = 1; j < 32; j++) { lo = v[j] < lo ? v[j] : lo; hi = v[j] > hi ? v[j] : hi; }
            const float d = (hi - lo) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
            store_half(dst, d);
            store_half(dst + 2, lo);
            for (int j = 0; j < 16; j++) {
                const int q0 = (int)((v[j] - lo) * id + 0.5f), q1 = (int)((v[j + 16] - lo) * id + 0.5f);
                dst[4 + j] = (uint8_t)((q0 > 15 ? 15 : q0) | (q1 > 15 ? 15 : q1) << 4);
            }
            dst += 20;
        }
    }
    return 0;
}
