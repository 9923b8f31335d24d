// AVX2 + FMA 6×16 SGEMM microkernel: 12 ymm accumulators, 2 ymm for B, 1 broadcast for A.
// Compiled for AVX2/FMA through a function attribute; only called after runtime detection.
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "sgemm_internal.h"

#define PK_AVX2 __attribute__((target("avx2,fma")))

#define PK_STEP(A, B)                                              \
    do {                                                           \
        const __m256 b0 = _mm256_load_ps(B);                       \
        const __m256 b1 = _mm256_load_ps((B) + 8);                 \
        __m256 av;                                                 \
        av = _mm256_broadcast_ss((A) + 0);                         \
        c00 = _mm256_fmadd_ps(av, b0, c00); c01 = _mm256_fmadd_ps(av, b1, c01); \
        av = _mm256_broadcast_ss((A) + 1);                         \
        c10 = _mm256_fmadd_ps(av, b0, c10); c11 = _mm256_fmadd_ps(av, b1, c11); \
        av = _mm256_broadcast_ss((A) + 2);                         \
        c20 = _mm256_fmadd_ps(av, b0, c20); c21 = _mm256_fmadd_ps(av, b1, c21); \
        av = _mm256_broadcast_ss((A) + 3);                         \
        c30 = _mm256_fmadd_ps(av, b0, c30); c31 = _mm256_fmadd_ps(av, b1, c31); \
        av = _mm256_broadcast_ss((A) + 4);                         \
        c40 = _mm256_fmadd_ps(av, b0, c40); c41 = _mm256_fmadd_ps(av, b1, c41); \
        av = _mm256_broadcast_ss((A) + 5);                         \
        c50 = _mm256_fmadd_ps(av, b0, c50); c51 = _mm256_fmadd_ps(av, b1, c51); \
    } while (0)

PK_AVX2 static inline void pk_store_row(float *c, __m256 lo, __m256 hi, __m256 va, float beta) {
    if (beta == 0.0f) {
        _mm256_storeu_ps(c, _mm256_mul_ps(va, lo));
        _mm256_storeu_ps(c + 8, _mm256_mul_ps(va, hi));
    } else if (beta == 1.0f) {
        _mm256_storeu_ps(c, _mm256_fmadd_ps(va, lo, _mm256_loadu_ps(c)));
        _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, hi, _mm256_loadu_ps(c + 8)));
    } else {
        const __m256 vb = _mm256_set1_ps(beta);
        _mm256_storeu_ps(c, _mm256_fmadd_ps(va, lo, _mm256_mul_ps(vb, _mm256_loadu_ps(c))));
        _mm256_storeu_ps(c + 8, _mm256_fmadd_ps(va, hi, _mm256_mul_ps(vb, _mm256_loadu_ps(c + 8))));
    }
}

PK_AVX2 void pk_microkernel_avx2(long kc, const float *restrict a, const float *restrict b,
                                 float *restrict c, long ldc, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();

    // Bring the C tile towards L1 while the k loop runs (rows of a wide C sit one page apart and
    // would otherwise miss at the final load/store).
    for (int i = 0; i < PK_MR; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + PK_NR - 1), _MM_HINT_T0);
    }

    long k = 0;
    for (; k + 4 <= kc; k += 4) {
        _mm_prefetch((const char *)(b + 8 * PK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 9 * PK_NR), _MM_HINT_T0);
        PK_STEP(a, b);
        PK_STEP(a + PK_MR, b + PK_NR);
        _mm_prefetch((const char *)(b + 10 * PK_NR), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 11 * PK_NR), _MM_HINT_T0);
        PK_STEP(a + 2 * PK_MR, b + 2 * PK_NR);
        PK_STEP(a + 3 * PK_MR, b + 3 * PK_NR);
        a += 4 * PK_MR;
        b += 4 * PK_NR;
    }
    for (; k < kc; k++) {
        PK_STEP(a, b);
        a += PK_MR;
        b += PK_NR;
    }

    const __m256 va = _mm256_set1_ps(alpha);
    pk_store_row(c + 0 * ldc, c00, c01, va, beta);
    pk_store_row(c + 1 * ldc, c10, c11, va, beta);
    pk_store_row(c + 2 * ldc, c20, c21, va, beta);
    pk_store_row(c + 3 * ldc, c30, c31, va, beta);
    pk_store_row(c + 4 * ldc, c40, c41, va, beta);
    pk_store_row(c + 5 * ldc, c50, c51, va, beta);
}
#endif
