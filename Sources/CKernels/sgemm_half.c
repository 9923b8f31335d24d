// Mixed-precision tiles of the shared-packing GEMM (opt-in, `PK_GEMM_PRECISION_HALF`): IEEE-half operands,
// sums kept in half for PK_HALF_SPAN steps and in float beyond, on AVX512-FP16 (32 half lanes per FMA,
// about twice the float FMA's multiply-adds per cycle).
//
// The float packers run unchanged; their blocks are then converted:
//   - op(A): each 12-row tile of a packed A block becomes kc steps of 12 dwords, each dword one row's half
//     twice (so a plain 32-bit broadcast load fills all 32 lanes). Every row is first scaled by a power of
//     two that brings its largest magnitude in the block into [0.5, 1).
//   - op(B): each 64-column group of a packed B block becomes kc steps of 64 halves, scaled by one power
//     of two per group the same way.
// So no product exceeds 1 in magnitude and no PK_HALF_SPAN-step partial sum can overflow; the scales are
// exact and undone in float when a tile is written. Values below 2⁻²⁴ of their row's (or group's) largest
// are lost to half's range, which matters as little as the rounding of the rest.
//
// Results depend only on the shapes (the scales are per row and per 64-column group of each KC×NC block,
// both fixed by the blocking), not on the thread count. Relative error of a product is about 1e-3 (a
// 64-step half sum's rounding), less than rounding both operands to bfloat16.
//
// The row and group scales (`pk_mixed_row_scales`, `pk_mixed_group_scale`) and the loop over a block's
// tiles with their write-back (`pk_mixed_block_tiles`) are shared with the bfloat16 path (sgemm_bfloat16.c).
#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "sgemm_internal.h"

#define PK_HALF_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512fp16,f16c,fma")))

/// Power-of-two scale for a largest magnitude `largest`: 2^-e with largest·2^-e in [0.5, 1) (1 for zero and
/// non-finite values; clamped so that the scale and its inverse stay normal floats).
static float scale_for(float largest, float *inverse) {
    if (!(largest > 0.0f) || !isfinite(largest)) {
        *inverse = 1.0f;
        return 1.0f;
    }
    int exponent;
    (void)frexpf(largest, &exponent);
    if (exponent > 126) exponent = 126;
    if (exponent < -125) exponent = -125;
    *inverse = ldexpf(1.0f, exponent);
    return ldexpf(1.0f, -exponent);
}

__attribute__((target("avx512f"))) __m512 pk_mixed_row_scales(const float *p0, const float *p1, long kc, float *inverse) {
    // Largest magnitude per row: 8 steps of a 6-row panel are 48 floats, three vectors whose lanes hold
    // rows (lane + 16·vector) mod 6.
    float largest[2 * PK_MR] = {0};
    for (int half = 0; half < 2; half++) {
        const float *panel = half == 0 ? p0 : p1;
        if (panel == NULL) continue;
        __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0;
        long k = 0;
        for (; k + 8 <= kc; k += 8) {
            m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(panel + k * PK_MR)));
            m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(panel + k * PK_MR + 16)));
            m2 = _mm512_max_ps(m2, _mm512_abs_ps(_mm512_loadu_ps(panel + k * PK_MR + 32)));
        }
        float lanes[48];
        _mm512_storeu_ps(lanes, m0);
        _mm512_storeu_ps(lanes + 16, m1);
        _mm512_storeu_ps(lanes + 32, m2);
        float *row_max = largest + half * PK_MR;
        for (int i = 0; i < 48; i++) row_max[i % PK_MR] = fmaxf(row_max[i % PK_MR], lanes[i]);
        for (; k < kc; k++)
            for (int i = 0; i < PK_MR; i++) row_max[i] = fmaxf(row_max[i], fabsf(panel[k * PK_MR + i]));
    }
    float scales[16] = {0};
    for (int i = 0; i < 2 * PK_MR; i++) scales[i] = scale_for(largest[i], &inverse[i]);
    return _mm512_loadu_ps(scales);
}

__attribute__((target("avx512f"))) float pk_mixed_group_scale(const float *const source[4], long kc, float *inverse) {
    __m512 m = _mm512_setzero_ps();
    for (int p = 0; p < 4; p++) {
        if (source[p] == NULL) continue;
        for (long k = 0; k < kc; k++) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_load_ps(source[p] + k * PK_NR)));
    }
    return scale_for(_mm512_reduce_max_ps(m), inverse);
}

PK_HALF_TARGET void pk_half_pack_a(const float *packed_a, long mc, long kc, uint32_t *dst, float *inverse) {
    const long panels = (mc + PK_MR - 1) / PK_MR;
    for (long tile = 0; 2 * tile < panels; tile++) {
        const float *p0 = packed_a + 2 * tile * kc * PK_MR;
        const float *p1 = 2 * tile + 1 < panels ? p0 + kc * PK_MR : NULL;
        const __m512 scale = pk_mixed_row_scales(p0, p1, kc, inverse + tile * 2 * PK_MR);
        uint32_t *out = dst + tile * kc * 2 * PK_MR;
        for (long k = 0; k < kc; k++) {
            __m512 v = _mm512_maskz_loadu_ps(0x003F, p0 + k * PK_MR);
            if (p1 != NULL) v = _mm512_mask_expandloadu_ps(v, 0x0FC0, p1 + k * PK_MR);
            const __m256i halves = _mm512_cvtps_ph(_mm512_mul_ps(v, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512i wide = _mm512_cvtepu16_epi32(halves);
            _mm512_mask_storeu_epi32(out + k * 2 * PK_MR, 0x0FFF, _mm512_or_si512(wide, _mm512_slli_epi32(wide, 16)));
        }
    }
}

PK_HALF_TARGET void pk_half_pack_b(const float *packed_b, long kc, long nc, uint16_t *dst, float *inverse) {
    const long panels = (nc + PK_NR - 1) / PK_NR;
    for (long group = 0; group * 4 < panels; group++) {
        const float *source[4];
        for (int p = 0; p < 4; p++) source[p] = group * 4 + p < panels ? packed_b + (group * 4 + p) * kc * PK_NR : NULL;
        const __m512 scale = _mm512_set1_ps(pk_mixed_group_scale(source, kc, &inverse[group]));
        uint16_t *out = dst + group * kc * PK_HALF_NR;
        for (long k = 0; k < kc; k++) {
            for (int p = 0; p < 4; p++) {
                const __m256i halves = source[p] == NULL
                    ? _mm256_setzero_si256()
                    : _mm512_cvtps_ph(_mm512_mul_ps(_mm512_load_ps(source[p] + k * PK_NR), scale),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                _mm256_store_si256((__m256i *)(out + k * PK_HALF_NR + p * PK_NR), halves);
            }
        }
    }
}

#define PK_HALF_ROW(I, ROW)                                                                       \
    do {                                                                                          \
        const __m512h av = _mm512_castps_ph(_mm512_set1_ps(((const float *)ak)[ROW]));            \
        c##I##0 = _mm512_fmadd_ph(av, b0, c##I##0);                                               \
        c##I##1 = _mm512_fmadd_ph(av, b1, c##I##1);                                               \
    } while (0)

/// Adds 32 half sums into the 32 floats at `row`.
PK_HALF_TARGET static inline void add_half_sums(float *row, __m512h sums) {
    const __m512i bits = _mm512_castph_si512(sums);
    _mm512_store_ps(row, _mm512_add_ps(_mm512_load_ps(row), _mm512_cvtph_ps(_mm512_castsi512_si256(bits))));
    _mm512_store_ps(row + 16, _mm512_add_ps(_mm512_load_ps(row + 16), _mm512_cvtph_ps(_mm512_extracti64x4_epi64(bits, 1))));
}

/// Adds row ROW's 64 half sums (two vectors) into its 64 floats at `sums`.
#define PK_HALF_FLUSH(I, ROW)                                                                     \
    do {                                                                                          \
        add_half_sums(sums + (ROW) * PK_HALF_NR, c##I##0);                                        \
        add_half_sums(sums + (ROW) * PK_HALF_NR + 32, c##I##1);                                   \
    } while (0)

/// sums[12×64] = a·b for one 12-row A tile and one 64-column B group, kc steps deep, in runs of
/// PK_HALF_SPAN steps summed in half and then added into the float sums.
PK_HALF_TARGET static void half_tile(long kc, const uint32_t *a, const uint16_t *b, float *sums) {
    memset(sums, 0, sizeof(float) * 2 * PK_MR * PK_HALF_NR);
    for (long k0 = 0; k0 < kc; k0 += PK_HALF_SPAN) {
        const long k1 = k0 + PK_HALF_SPAN < kc ? k0 + PK_HALF_SPAN : kc;
        __m512h c00 = _mm512_setzero_ph(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        __m512h c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        __m512h c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
        const uint32_t *ak = a + k0 * 2 * PK_MR;
        const uint16_t *bk = b + k0 * PK_HALF_NR;
        for (long k = k0; k < k1; k++, ak += 2 * PK_MR, bk += PK_HALF_NR) {
            _mm_prefetch((const char *)(bk + 8 * PK_HALF_NR), _MM_HINT_T0);
            _mm_prefetch((const char *)(bk + 8 * PK_HALF_NR + 32), _MM_HINT_T0);
            const __m512h b0 = _mm512_load_ph(bk), b1 = _mm512_load_ph(bk + 32);
            PK_HALF_ROW(0, 0); PK_HALF_ROW(1, 1); PK_HALF_ROW(2, 2); PK_HALF_ROW(3, 3); PK_HALF_ROW(4, 4); PK_HALF_ROW(5, 5);
            PK_HALF_ROW(6, 6); PK_HALF_ROW(7, 7); PK_HALF_ROW(8, 8); PK_HALF_ROW(9, 9); PK_HALF_ROW(a, 10); PK_HALF_ROW(b, 11);
        }
        PK_HALF_FLUSH(0, 0); PK_HALF_FLUSH(1, 1); PK_HALF_FLUSH(2, 2); PK_HALF_FLUSH(3, 3); PK_HALF_FLUSH(4, 4); PK_HALF_FLUSH(5, 5);
        PK_HALF_FLUSH(6, 6); PK_HALF_FLUSH(7, 7); PK_HALF_FLUSH(8, 8); PK_HALF_FLUSH(9, 9); PK_HALF_FLUSH(a, 10); PK_HALF_FLUSH(b, 11);
    }
}

PK_HALF_TARGET void pk_half_block_tiles(const uint32_t *half_a, const float *a_inverse, long mc, long kc, long nc,
                                        const uint16_t *half_b, const float *b_inverse, float alpha, float beta,
                                        float *C, long ldc) {
    pk_mixed_block_tiles(half_tile, half_a, a_inverse, mc, kc, nc, half_b, b_inverse, alpha, beta, C, ldc);
}

/// C[mr×nr] = alpha · sums · a_inverse[row] · b_inverse + beta · C for a 12×64 tile of float sums.
__attribute__((target("avx512f"))) static void store_tile(const float *sums, long mr, long nr, const float *a_inverse,
                                                         float b_inverse, float alpha, float beta, float *C, long ldc) {
    const __mmask16 full = 0xFFFF;
    for (long i = 0; i < mr; i++) {
        const __m512 factor = _mm512_set1_ps(alpha * a_inverse[i] * b_inverse);
        float *c_row = C + i * ldc;
        for (long j = 0; j < nr; j += 16) {
            const __mmask16 mask = nr - j >= 16 ? full : (__mmask16)((1u << (nr - j)) - 1u);
            const __m512 product = _mm512_mul_ps(factor, _mm512_load_ps(sums + i * PK_HALF_NR + j));
            const __m512 value = beta == 0.0f ? product
                               : beta == 1.0f ? _mm512_add_ps(product, _mm512_maskz_loadu_ps(mask, c_row + j))
                                              : _mm512_fmadd_ps(_mm512_set1_ps(beta), _mm512_maskz_loadu_ps(mask, c_row + j), product);
            _mm512_mask_storeu_ps(c_row + j, mask, value);
        }
    }
}

__attribute__((target("avx512f"))) void pk_mixed_block_tiles(pk_mixed_tile tile, const uint32_t *a, const float *a_inverse,
                                                             long mc, long kc, long nc, const uint16_t *b, const float *b_inverse,
                                                             float alpha, float beta, float *C, long ldc) {
    _Alignas(64) float sums[2 * PK_MR * PK_HALF_NR];
    for (long jr = 0, group = 0; jr < nc; jr += PK_HALF_NR, group++) {
        const long nr = nc - jr < PK_HALF_NR ? nc - jr : PK_HALF_NR;
        for (long ir = 0; ir < mc; ir += 2 * PK_MR) {
            const long mr = mc - ir < 2 * PK_MR ? mc - ir : 2 * PK_MR;
            tile(kc, a + ir * kc, b + jr * kc, sums);
            store_tile(sums, mr, nr, a_inverse + ir, b_inverse[group], alpha, beta, C + ir * ldc + jr, ldc);
        }
    }
}

#endif
