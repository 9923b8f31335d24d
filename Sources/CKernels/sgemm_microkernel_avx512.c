// AVX-512F 12×32 SGEMM microkernel: two 6-row A panels by two 16-column B panels of the ordinary
// packing layout (so every packer, float or quantized, serves it unchanged). 24 zmm accumulators,
// 2 zmm for B, A broadcast straight from memory into each FMA.
//
// Each C element is one FMA chain over k in order, as in the 6×16 AVX2 kernel, so both kernels give
// bit-identical results. Compiled for AVX-512F through a function attribute; only called after
// runtime detection of AVX-512F with ZMM state enabled by the OS.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "sgemm_internal.h"

#define PK_AVX512 __attribute__((target("avx512f,fma")))

#define PK_ROW(I, A, OFF)                                                       \
    do {                                                                        \
        const __m512 av = _mm512_set1_ps((A)[OFF]);                             \
        c##I##0 = _mm512_fmadd_ps(av, b0, c##I##0);                             \
        c##I##1 = _mm512_fmadd_ps(av, b1, c##I##1);                             \
    } while (0)

#define PK_STEP512(A0, A1, B0, B1)                                              \
    do {                                                                        \
        const __m512 b0 = _mm512_load_ps(B0);                                   \
        const __m512 b1 = _mm512_load_ps(B1);                                   \
        PK_ROW(0, A0, 0); PK_ROW(1, A0, 1); PK_ROW(2, A0, 2);                   \
        PK_ROW(3, A0, 3); PK_ROW(4, A0, 4); PK_ROW(5, A0, 5);                   \
        PK_ROW(6, A1, 0); PK_ROW(7, A1, 1); PK_ROW(8, A1, 2);                   \
        PK_ROW(9, A1, 3); PK_ROW(a, A1, 4); PK_ROW(b, A1, 5);                   \
    } while (0)

PK_AVX512 static inline void pk_store_row512(float *c, __m512 lo, __m512 hi, __m512 va, float beta) {
    if (beta == 0.0f) {
        _mm512_storeu_ps(c, _mm512_mul_ps(va, lo));
        _mm512_storeu_ps(c + 16, _mm512_mul_ps(va, hi));
    } else if (beta == 1.0f) {
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, lo, _mm512_loadu_ps(c)));
        _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, hi, _mm512_loadu_ps(c + 16)));
    } else {
        const __m512 vb = _mm512_set1_ps(beta);
        _mm512_storeu_ps(c, _mm512_fmadd_ps(va, lo, _mm512_mul_ps(vb, _mm512_loadu_ps(c))));
        _mm512_storeu_ps(c + 16, _mm512_fmadd_ps(va, hi, _mm512_mul_ps(vb, _mm512_loadu_ps(c + 16))));
    }
}

PK_AVX512 void pk_microkernel_avx512(long kc, const float *restrict a, const float *restrict b,
                                     float *restrict c, long ldc, float alpha, float beta) {
    const float *a0 = a, *a1 = a + kc * PK_MR;
    const float *b0p = b, *b1p = b + kc * PK_NR;
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps();
    __m512 c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps();
    __m512 c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps();
    __m512 cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();

    for (int i = 0; i < 2 * PK_MR; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 2 * PK_NR - 1), _MM_HINT_T0);
    }

    long k = 0;
    for (; k + 2 <= kc; k += 2) {
        _mm_prefetch((const char *)(b0p + 8 * PK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b1p + 8 * PK_NR), _MM_HINT_T0);
        PK_STEP512(a0, a1, b0p, b1p);
        PK_STEP512(a0 + PK_MR, a1 + PK_MR, b0p + PK_NR, b1p + PK_NR);
        a0 += 2 * PK_MR; a1 += 2 * PK_MR;
        b0p += 2 * PK_NR; b1p += 2 * PK_NR;
    }
    for (; k < kc; k++) {
        PK_STEP512(a0, a1, b0p, b1p);
        a0 += PK_MR; a1 += PK_MR;
        b0p += PK_NR; b1p += PK_NR;
    }

    const __m512 va = _mm512_set1_ps(alpha);
    pk_store_row512(c + 0 * ldc, c00, c01, va, beta);
    pk_store_row512(c + 1 * ldc, c10, c11, va, beta);
    pk_store_row512(c + 2 * ldc, c20, c21, va, beta);
    pk_store_row512(c + 3 * ldc, c30, c31, va, beta);
    pk_store_row512(c + 4 * ldc, c40, c41, va, beta);
    pk_store_row512(c + 5 * ldc, c50, c51, va, beta);
    pk_store_row512(c + 6 * ldc, c60, c61, va, beta);
    pk_store_row512(c + 7 * ldc, c70, c71, va, beta);
    pk_store_row512(c + 8 * ldc, c80, c81, va, beta);
    pk_store_row512(c + 9 * ldc, c90, c91, va, beta);
    pk_store_row512(c + 10 * ldc, ca0, ca1, va, beta);
    pk_store_row512(c + 11 * ldc, cb0, cb1, va, beta);
}

// Edge tiles: one or two 6-row A panels by one or two 16-column B panels, their sums a·b written whole
// (6 or 12 rows, 16 or 32 columns) to a scratch tile. Each element is the same FMA chain over k as in
// the full kernels; the driver then scales and stores them as the AVX2 kernel would (`finish_edge`).
#define PK_EDGE_KERNEL(NAME, AP, BP)                                                                   \
    PK_AVX512 static void NAME(long kc, const float *restrict a, const float *restrict b,              \
                               float *restrict c, long ldc) {                                          \
        __m512 acc[(AP) * PK_MR][BP];                                                                   \
        for (int i = 0; i < (AP) * PK_MR; i++)                                                          \
            for (int j = 0; j < (BP); j++) acc[i][j] = _mm512_setzero_ps();                            \
        for (long k = 0; k < kc; k++) {                                                                 \
            __m512 bv[BP];                                                                              \
            for (int j = 0; j < (BP); j++) bv[j] = _mm512_load_ps(b + j * kc * PK_NR + k * PK_NR);     \
            for (int p = 0; p < (AP); p++) {                                                            \
                for (int i = 0; i < PK_MR; i++) {                                                       \
                    const __m512 av = _mm512_set1_ps(a[p * kc * PK_MR + k * PK_MR + i]);               \
                    for (int j = 0; j < (BP); j++)                                                      \
                        acc[p * PK_MR + i][j] = _mm512_fmadd_ps(av, bv[j], acc[p * PK_MR + i][j]);    \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
        for (int i = 0; i < (AP) * PK_MR; i++)                                                          \
            for (int j = 0; j < (BP); j++) _mm512_storeu_ps(c + i * ldc + j * PK_NR, acc[i][j]);       \
    }

PK_EDGE_KERNEL(edge_6x16, 1, 1)
PK_EDGE_KERNEL(edge_6x32, 1, 2)
PK_EDGE_KERNEL(edge_12x16, 2, 1)
PK_EDGE_KERNEL(edge_12x32, 2, 2)

PK_AVX512 void pk_microkernel_avx512_edge(long kc, const float *a, const float *b, float *c, long ldc, int a_panels,
                                          int b_panels) {
    if (a_panels == 2) {
        if (b_panels == 2) edge_12x32(kc, a, b, c, ldc); else edge_12x16(kc, a, b, c, ldc);
    } else {
        if (b_panels == 2) edge_6x32(kc, a, b, c, ldc); else edge_6x16(kc, a, b, c, ldc);
    }
}
#endif
