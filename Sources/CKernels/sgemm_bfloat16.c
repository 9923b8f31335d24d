// Mixed-precision tiles of the shared-packing GEMM (opt-in, `PK_GEMM_PRECISION_BFLOAT16`): bfloat16
// operands, float sums, on AVX512-BF16 (`vdpbf16ps`: each float lane adds the products of two bfloat16
// pairs, 32 multiply-adds per instruction).
//
// The float packers run unchanged; their blocks are then converted, in the same buffers and block
// layout as the half path (sgemm_half.c), so the shared-packing driver serves both:
//   - op(A): each 12-row tile of a packed A block becomes ceil(kc/2) steps of 12 dwords, each dword one
//     row's values at depths 2p (low half) and 2p+1 (high half) rounded to bfloat16; an odd last depth
//     is paired with zero.
//   - op(B): each 64-column group of a packed B block becomes kc/2 steps of four vectors, each holding 16
//     columns' pairs of depths (2p, 2p+1) in the same order as A's dwords; an odd last depth is stored
//     as 64 plain bfloat16 values and multiplied in float.
// Rows of A and 64-column groups of B are scaled by powers of two as in the half path: bfloat16 has
// float's range, but `vdpbf16ps` treats subnormal inputs and results as zero, so tiny rows would be lost.
// The sums are float from the first step. Each operand is rounded to 8 significant bits (relative error
// ≤ 2⁻⁹), so a product's relative error is at most about 4e-3, typically 2e-3; the sums add float
// rounding only.
//
// On CPUs that run `vdpbf16ps` at the float FMA's instruction rate (AMD Zen 4 and Zen 5) this is about
// twice the float rate. On Intel Xeons with AVX512-FP16 the half path is the faster one.
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "sgemm_internal.h"

#define PK_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,fma")))

/// 16 floats rounded to bfloat16 (nearest, ties to even), each in the low half of a dword.
PK_BF16_TARGET static inline __m512i bfloat16_low(__m512 v) {
    return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(v));
}

PK_BF16_TARGET void pk_bfloat16_pack_a(const float *packed_a, long mc, long kc, uint32_t *dst, float *inverse) {
    const long panels = (mc + PK_MR - 1) / PK_MR;
    for (long tile = 0; 2 * tile < panels; tile++) {
        const float *p0 = packed_a + 2 * tile * kc * PK_MR;
        const float *p1 = 2 * tile + 1 < panels ? p0 + kc * PK_MR : NULL;
        const __m512 scale = pk_mixed_row_scales(p0, p1, kc, inverse + tile * 2 * PK_MR);
        uint32_t *out = dst + tile * kc * 2 * PK_MR;
        for (long k = 0; k < kc; k += 2) {
            // 12 rows at depth k (lanes 0–11), then at depth k + 1 (zero past the end).
            __m512 v0 = _mm512_maskz_loadu_ps(0x003F, p0 + k * PK_MR);
            if (p1 != NULL) v0 = _mm512_mask_expandloadu_ps(v0, 0x0FC0, p1 + k * PK_MR);
            __m512 v1 = _mm512_setzero_ps();
            if (k + 1 < kc) {
                v1 = _mm512_maskz_loadu_ps(0x003F, p0 + (k + 1) * PK_MR);
                if (p1 != NULL) v1 = _mm512_mask_expandloadu_ps(v1, 0x0FC0, p1 + (k + 1) * PK_MR);
            }
            const __m512i pairs = _mm512_or_si512(bfloat16_low(_mm512_mul_ps(v0, scale)),
                                                  _mm512_slli_epi32(bfloat16_low(_mm512_mul_ps(v1, scale)), 16));
            _mm512_mask_storeu_epi32(out + (k / 2) * 2 * PK_MR, 0x0FFF, pairs);
        }
    }
}

PK_BF16_TARGET void pk_bfloat16_pack_b(const float *packed_b, long kc, long nc, uint16_t *dst, float *inverse) {
    const long panels = (nc + PK_NR - 1) / PK_NR;
    for (long group = 0; group * 4 < panels; group++) {
        // Packed float B panels hold PK_NR = 16 columns per depth step.
        const float *source[4];
        for (int p = 0; p < 4; p++) source[p] = group * 4 + p < panels ? packed_b + (group * 4 + p) * kc * PK_NR : NULL;
        const __m512 scale = _mm512_set1_ps(pk_mixed_group_scale(source, kc, &inverse[group]));
        uint16_t *out = dst + group * kc * PK_HALF_NR;
        for (long k = 0; k < kc; k += 2) {
            for (int p = 0; p < 4; p++) {
                if (k + 1 < kc) {
                    __m512i pairs = _mm512_setzero_si512();
                    if (source[p] != NULL)
                        pairs = _mm512_or_si512(
                            bfloat16_low(_mm512_mul_ps(_mm512_load_ps(source[p] + k * PK_NR), scale)),
                            _mm512_slli_epi32(bfloat16_low(_mm512_mul_ps(_mm512_load_ps(source[p] + (k + 1) * PK_NR), scale)), 16));
                    _mm512_store_si512((__m512i *)(out + k * PK_HALF_NR + p * 2 * PK_NR), pairs);
                } else {
                    // The odd last depth: 16 plain values per panel.
                    const __m256i values = source[p] == NULL
                        ? _mm256_setzero_si256()
                        : (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_load_ps(source[p] + k * PK_NR), scale));
                    _mm256_store_si256((__m256i *)(out + k * PK_HALF_NR + p * PK_NR), values);
                }
            }
        }
    }
}

#define PK_BF16_ROW(I, ROW)                                                                        \
    do {                                                                                           \
        const __m512bh av = (__m512bh)_mm512_set1_epi32((int)ak[ROW]);                             \
        c##I##0 = _mm512_dpbf16_ps(c##I##0, av, b0);                                               \
        c##I##1 = _mm512_dpbf16_ps(c##I##1, av, b1);                                               \
    } while (0)

/// The odd last depth in float: row ROW's value (the low half of its dword) times 32 columns.
#define PK_BF16_TAIL_ROW(I, ROW)                                                                   \
    do {                                                                                           \
        const __m512 av = _mm512_castsi512_ps(_mm512_set1_epi32((int)(ak[ROW] << 16)));            \
        c##I##0 = _mm512_fmadd_ps(av, t0, c##I##0);                                                \
        c##I##1 = _mm512_fmadd_ps(av, t1, c##I##1);                                                \
    } while (0)

#define PK_BF16_STORE(I, ROW)                                                                      \
    do {                                                                                           \
        _mm512_store_ps(sums + (ROW) * PK_HALF_NR + column, c##I##0);                              \
        _mm512_store_ps(sums + (ROW) * PK_HALF_NR + column + 16, c##I##1);                         \
    } while (0)

/// bfloat16 → float of 16 values (exact: the bits move to the top half).
PK_BF16_TARGET static inline __m512 widen(const uint16_t *values) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_load_si256((const __m256i *)values)), 16));
}

/// sums[12×64] = a·b for one 12-row A tile and one 64-column B group, kc deep, in two 32-column halves.
PK_BF16_TARGET static void bfloat16_tile(long kc, const uint32_t *a, const uint16_t *b, float *sums) {
    const long pairs = kc / 2;
    for (long column = 0; column < PK_HALF_NR; column += 32) {
        __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        __m512 c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
        __m512 c80 = c00, c81 = c00, c90 = c00, c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
        const uint32_t *ak = a;
        const uint16_t *bk = b + column * 2;  // a step holds 64 columns × 2 depths; this half starts 32 pairs in
        for (long p = 0; p < pairs; p++, ak += 2 * PK_MR, bk += 2 * PK_HALF_NR) {
            _mm_prefetch((const char *)(bk + 8 * 2 * PK_HALF_NR), _MM_HINT_T0);
            _mm_prefetch((const char *)(bk + 8 * 2 * PK_HALF_NR + 32), _MM_HINT_T0);
            const __m512bh b0 = (__m512bh)_mm512_load_si512((const __m512i *)bk);
            const __m512bh b1 = (__m512bh)_mm512_load_si512((const __m512i *)(bk + 32));
            PK_BF16_ROW(0, 0); PK_BF16_ROW(1, 1); PK_BF16_ROW(2, 2); PK_BF16_ROW(3, 3); PK_BF16_ROW(4, 4); PK_BF16_ROW(5, 5);
            PK_BF16_ROW(6, 6); PK_BF16_ROW(7, 7); PK_BF16_ROW(8, 8); PK_BF16_ROW(9, 9); PK_BF16_ROW(a, 10); PK_BF16_ROW(b, 11);
        }
        if (kc % 2 != 0) {
            const uint16_t *tail = b + (kc - 1) * PK_HALF_NR + column;
            const __m512 t0 = widen(tail), t1 = widen(tail + 16);
            PK_BF16_TAIL_ROW(0, 0); PK_BF16_TAIL_ROW(1, 1); PK_BF16_TAIL_ROW(2, 2); PK_BF16_TAIL_ROW(3, 3);
            PK_BF16_TAIL_ROW(4, 4); PK_BF16_TAIL_ROW(5, 5); PK_BF16_TAIL_ROW(6, 6); PK_BF16_TAIL_ROW(7, 7);
            PK_BF16_TAIL_ROW(8, 8); PK_BF16_TAIL_ROW(9, 9); PK_BF16_TAIL_ROW(a, 10); PK_BF16_TAIL_ROW(b, 11);
        }
        PK_BF16_STORE(0, 0); PK_BF16_STORE(1, 1); PK_BF16_STORE(2, 2); PK_BF16_STORE(3, 3); PK_BF16_STORE(4, 4); PK_BF16_STORE(5, 5);
        PK_BF16_STORE(6, 6); PK_BF16_STORE(7, 7); PK_BF16_STORE(8, 8); PK_BF16_STORE(9, 9); PK_BF16_STORE(a, 10); PK_BF16_STORE(b, 11);
    }
}

PK_BF16_TARGET void pk_bfloat16_block_tiles(const uint32_t *packed_a, const float *a_inverse, long mc, long kc, long nc,
                                            const uint16_t *packed_b, const float *b_inverse, float alpha, float beta,
                                            float *C, long ldc) {
    pk_mixed_block_tiles(bfloat16_tile, packed_a, a_inverse, mc, kc, nc, packed_b, b_inverse, alpha, beta, C, ldc);
}

#endif
